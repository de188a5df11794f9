import Resilience

/// An error raised by the PostgreSQL layer, in the shape every client error has (`ClassifiedError`):
/// `description` names the code, SQLSTATE and the server's primary message only; it never contains the SQL text
/// or parameter values, which may carry personal data. The server's message for a data error, which quotes
/// values, is kept in `detail` (`debugDescription`) only.
public struct PGError: ClassifiedError {
    public typealias Code = ErrorCode<PGError>

    public var code: Code
    /// The server's primary message or the client's reason; never SQL text or parameter values.
    public var reason: String
    /// Five-character SQLSTATE from the server (e.g. `23505` unique violation), when there is one.
    public var sqlState: String?
    public var detail: String?

    public init(_ code: Code, _ reason: String, sqlState: String? = nil, detail: String? = nil) {
        self.code = code
        self.reason = reason
        self.sqlState = sqlState
        self.detail = detail
    }

    public var description: String {
        if let sqlState { return "PostgreSQL \(code) [\(sqlState)]: \(reason)" }
        return "PostgreSQL \(code): \(reason)"
    }

    /// The statement was cancelled: it ran past its `statement_timeout`, or was cancelled on request (57014).
    public var isCancelled: Bool { sqlState == "57014" }

    /// Whether the same work may succeed if tried again. This is the one place that decides it.
    ///
    /// Everything is retriable except errors caused by the data itself, which no retry fixes:
    /// - SQLSTATE class 22 (data exception: a value out of range, invalid text), 23 (integrity constraint
    ///   violation) and 54 (program limit exceeded: a statement or value too large);
    /// - values this client cannot send (`invalidParameter`: text with a NUL) or decode (`decodingFailed`), and a
    ///   connection URL that cannot be used (`invalidConfiguration`).
    ///
    /// So a lost connection (08, 57P), a serialization failure or deadlock (40), a cancelled statement or statement
    /// timeout (57014), a read-only node after failover (25006), insufficient resources (53: disk full, out of
    /// memory, too many connections), a lock timeout (55P03) or a missing privilege (42501) are all waited out.
    public var isRetriable: Bool {
        if code == .invalidParameter || code == .decodingFailed || code == .invalidConfiguration { return false }
        guard let sqlState else { return true }
        return !Self.isDataError(sqlState)
    }

    /// True for SQLSTATE classes caused by the data of a statement, not by the server's state: 22, 23 and 54.
    public static func isDataError(_ sqlState: String) -> Bool {
        ["22", "23", "54"].contains(sqlState.prefix(2))
    }
}

extension ErrorCode<PGError> {
    /// The connection URL is not usable.
    public static let invalidConfiguration = Self("invalid-configuration")
    /// Could not connect (server down, wrong port, authentication).
    public static let connectionFailed = Self("connection-failed")
    /// The connection broke during a statement; whether an in-flight COMMIT took effect is unknown.
    public static let connectionLost = Self("connection-lost")
    /// The server rejected the statement (constraint, syntax, permission...): see `sqlState`.
    public static let statementFailed = Self("statement-failed")
    /// A parameter cannot be sent (text with a NUL character).
    public static let invalidParameter = Self("invalid-parameter")
    /// A column could not be decoded into the requested Swift type.
    public static let decodingFailed = Self("decoding-failed")
    /// Every connection of the pool is lent and as many callers as allowed already wait (`withConnection(queueingAtMost:)`).
    public static let busy = Self("busy")
}
