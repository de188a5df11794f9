/// A SQL statement whose interpolated values become `$n` parameters, never SQL text.
///
/// ```swift
/// let query: PGQuery = "SELECT title FROM notifications WHERE user_id = \(userID) LIMIT \(limit)"
/// ```
/// Identifiers and fixed SQL fragments cannot be interpolated; build those with `PGQuery(unsafeSQL:)` from
/// constants only.
public struct PGQuery: Sendable, ExpressibleByStringInterpolation {
    public private(set) var sql: String
    public private(set) var parameters: [String?]

    /// SQL taken as is, with no parameters: only for text written in this code base, never for input.
    public init(unsafeSQL sql: String, parameters: [String?] = []) {
        self.sql = sql
        self.parameters = parameters
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.sql, parameters: stringInterpolation.parameters)
    }

    public struct StringInterpolation: StringInterpolationProtocol {
        var sql = ""
        var parameters: [String?] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + interpolationCount * 3)
            parameters.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        public mutating func appendInterpolation(_ value: some PGEncodable) {
            parameters.append(value.pgText)
            sql += "$\(parameters.count)"
        }

        /// A fixed SQL fragment from this code base (a column expression, a filter): never input.
        public mutating func appendInterpolation(unsafe fragment: String) { sql += fragment }

        public mutating func appendInterpolation(_ value: (some PGEncodable)?) {
            parameters.append(value?.pgText)
            sql += "$\(parameters.count)"
        }
    }
}
