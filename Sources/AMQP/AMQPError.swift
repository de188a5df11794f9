import Resilience

/// An error raised by the AMQP layer, in the shape every client error has (`ClassifiedError`): `description`
/// names the code, the broker's reply code and the operation's reason, never a message body, a header value or a
/// credential.
public struct AMQPError: ClassifiedError, Equatable {
    public typealias Code = ErrorCode<AMQPError>

    public var code: Code
    /// A sentence naming the operation and cause; never carries payloads or secrets.
    public var reason: String
    /// AMQP reply code from `connection.close` / `channel.close` (e.g. 320, 404, 406), when the broker gave one.
    public var replyCode: UInt16?
    public var detail: String?

    public init(_ code: Code, _ reason: String, replyCode: UInt16? = nil, detail: String? = nil) {
        self.code = code
        self.reason = reason
        self.replyCode = replyCode
        self.detail = detail
    }

    public var description: String {
        if let replyCode { return "AMQP \(code) (\(replyCode)): \(reason)" }
        return "AMQP \(code): \(reason)"
    }

    /// Whether the same work may succeed later: a broker that was unreachable, a connection that broke, a wait
    /// that ran out. Refused credentials, a bad configuration, a refused operation or a closed connection do not
    /// heal by waiting.
    public var isRetriable: Bool {
        code == .connectionFailed || code == .connectionLost || code == .timeout
    }
}

extension ErrorCode<AMQPError> {
    /// The connection URL or a configuration value is not usable.
    public static let invalidConfiguration = Self("invalid-configuration")
    /// TCP/TLS connect or the AMQP handshake failed (broker down, wrong port, TLS verification).
    public static let connectionFailed = Self("connection-failed")
    /// The broker refused the credentials or the vhost.
    public static let accessRefused = Self("access-refused")
    /// The connection or channel was closed by the broker or by a socket error.
    public static let connectionLost = Self("connection-lost")
    /// The broker rejected a declaration, a consume or another synchronous method.
    public static let operationRefused = Self("operation-refused")
    /// A bounded wait ran out (RPC reply, confirm).
    public static let timeout = Self("timeout")
    /// The connection was closed by its owner; no more work is accepted.
    public static let closed = Self("closed")
}
