/// An error raised by the PostgreSQL layer.
///
/// `description` names the code, SQLSTATE and the server's primary message only; it never contains the SQL text or
/// parameter values, which may carry personal data.
public struct PGError: Error, Sendable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private let name: String
        private init(_ name: String) { self.name = name }
        public var description: String { name }

        /// The connection URL is not usable.
        public static let invalidConfiguration = Code("invalid-configuration")
        /// Could not connect (server down, wrong port, authentication).
        public static let connectionFailed = Code("connection-failed")
        /// The connection broke during a statement; whether an in-flight COMMIT took effect is unknown.
        public static let connectionLost = Code("connection-lost")
        /// The server rejected the statement (constraint, syntax, permission...): see `sqlState`.
        public static let statementFailed = Code("statement-failed")
        /// A parameter cannot be sent (text with a NUL character).
        public static let invalidParameter = Code("invalid-parameter")
        /// A column could not be decoded into the requested Swift type.
        public static let decodingFailed = Code("decoding-failed")
    }

    public var code: Code
    /// The server's primary message or the client's reason; never SQL text or parameter values.
    public var reason: String
    /// Five-character SQLSTATE from the server (e.g. `23505` unique violation), when there is one.
    public var sqlState: String?

    public init(_ code: Code, _ reason: String, sqlState: String? = nil) {
        self.code = code
        self.reason = reason
        self.sqlState = sqlState
    }

    public var description: String {
        if let sqlState { return "PostgreSQL \(code) [\(sqlState)]: \(reason)" }
        return "PostgreSQL \(code): \(reason)"
    }

    /// A failure of the server or network, not of the statement: retrying on a fresh connection may succeed.
    /// Serialization failures and deadlocks (class 40) count too.
    public var isRetriable: Bool {
        code == .connectionLost || code == .connectionFailed || sqlState?.hasPrefix("40") == true
            || sqlState?.hasPrefix("57P") == true || sqlState?.hasPrefix("08") == true
    }
}
