/// A value in an AMQP field table (message headers, queue arguments, client properties).
public enum AMQPFieldValue: Sendable, Equatable, Hashable {
    case string(String)
    case bool(Bool)
    case int(Int64)
    case double(Double)
    /// Seconds since the epoch.
    case timestamp(UInt64)
    case bytes([UInt8])
    case array([AMQPFieldValue])
    case table([String: AMQPFieldValue])
    case void
}

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

extension AMQPFieldValue {
    /// The value as a whole number when it is one that fits (`status` headers and the like); nil otherwise.
    public var integer: Int? {
        if case .int(let value) = self { return Int(exactly: value) }
        return nil
    }
}
