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

    /// The value as a string, when it is one (UTF-8 long strings and byte arrays that decode as UTF-8).
    public var stringValue: String? {
        switch self {
        case .string(let value): value
        case .bytes(let value): String(validating: value, as: UTF8.self)
        default: nil
        }
    }

    /// The value as an integer, when it is any integer kind.
    public var intValue: Int64? {
        if case .int(let value) = self { return value }
        return nil
    }
}

extension AMQPFieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}
