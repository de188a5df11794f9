/// An error raised by the AMQP layer.
///
/// `description` is safe to log: it names the operation and the broker's or library's reason, never a message body,
/// a header value or a credential.
public struct AMQPError: Error, Sendable, CustomStringConvertible, Equatable {
    /// What went wrong, as a small extensible set of codes.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The connection URL or a configuration value is not usable.
        public static let invalidConfiguration = Code("invalid-configuration")
        /// TCP/TLS connect or the AMQP handshake failed (broker down, wrong port, TLS verification).
        public static let connectionFailed = Code("connection-failed")
        /// The broker refused the credentials or the vhost.
        public static let accessRefused = Code("access-refused")
        /// The connection or channel was closed by the broker or by a socket error.
        public static let connectionLost = Code("connection-lost")
        /// The broker rejected a declaration, a consume or another synchronous method.
        public static let operationRefused = Code("operation-refused")
        /// A bounded wait ran out (RPC reply, confirm).
        public static let timeout = Code("timeout")
        /// The connection was closed by its owner; no more work is accepted.
        public static let closed = Code("closed")
    }

    public var code: Code
    /// A sentence naming the operation and cause; never carries payloads or secrets.
    public var reason: String
    /// AMQP reply code from `connection.close` / `channel.close` (e.g. 320, 404, 406), when the broker gave one.
    public var replyCode: UInt16?

    public init(_ code: Code, _ reason: String, replyCode: UInt16? = nil) {
        self.code = code
        self.reason = reason
        self.replyCode = replyCode
    }

    public var description: String {
        if let replyCode { return "AMQP \(code) (\(replyCode)): \(reason)" }
        return "AMQP \(code): \(reason)"
    }
}
