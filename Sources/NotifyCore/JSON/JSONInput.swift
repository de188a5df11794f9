import Foundation

/// Turns untrusted message bytes into a JSON object, refusing what should never reach a parser:
/// bodies over the size limit, invalid UTF-8, and nesting deeper than `maxDepth`.
public struct JSONInput: Sendable {
    /// Largest body accepted, in bytes. Default 256 KiB (the contract, docs/api.md).
    public var maxBytes = 256 * 1024
    /// Deepest nesting of arrays and objects accepted. Default 32: real events nest 3 levels.
    public var maxDepth = 32

    public init() {}

    public func object(from bytes: [UInt8]) throws(Rejection) -> [String: Any] {
        guard bytes.count <= maxBytes else {
            throw Rejection(.tooLarge, "body is \(bytes.count) bytes, the limit is \(maxBytes)")
        }
        guard String(validating: bytes, as: UTF8.self) != nil else {
            throw Rejection(.invalidUTF8, "body is not valid UTF-8")
        }
        let depth = Self.nestingDepth(bytes)
        guard depth <= maxDepth else {
            throw Rejection(.tooDeep, "body nests deeper than \(maxDepth) levels")
        }
        guard let parsed = JSONParser.parse(bytes) else {
            throw Rejection(.invalidJSON, "body is not valid JSON")
        }
        guard let object = parsed as? [String: Any] else {
            throw Rejection(.schema, "body must be a JSON object")
        }
        return object
    }

    /// Deepest bracket nesting outside string literals; a linear scan that cannot overflow a stack.
    static func nestingDepth(_ bytes: [UInt8]) -> Int {
        var depth = 0, deepest = 0, inString = false, escaped = false
        for byte in bytes {
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
                deepest = max(deepest, depth)
            case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
            default: break
            }
        }
        return deepest
    }
}

/// Typed, field-naming access to a decoded JSON object.
public struct JSONFields {
    let object: [String: Any]
    /// Prefix for field paths in messages, e.g. `confirmationDetails.`.
    public let path: String

    public init(_ object: [String: Any], path: String = "") {
        self.object = object
        self.path = path
    }

    public func has(_ key: String) -> Bool { object[key] != nil && !(object[key] is NSNull) }

    /// True when the key is present with the value `null` (which, in an update, clears the field).
    public func isNull(_ key: String) -> Bool { object[key] is NSNull }

    /// A non-empty id string of at most 128 characters (the contract, docs/api.md).
    public func id(_ key: String) throws(Rejection) -> String {
        guard let value = try optionalID(key) else { throw Rejection(.schema, "missing required field '\(path)\(key)'") }
        return value
    }

    public func optionalID(_ key: String) throws(Rejection) -> String? {
        guard let value = try optionalString(key) else { return nil }
        guard !value.isEmpty, value.count <= 128 else {
            throw Rejection(.schema, "field '\(path)\(key)' must be 1 to 128 characters")
        }
        return value
    }

    public func string(_ key: String) throws(Rejection) -> String {
        guard let value = try optionalString(key) else { throw Rejection(.schema, "missing required field '\(path)\(key)'") }
        return value
    }

    public func optionalString(_ key: String, maxLength: Int = 4096) throws(Rejection) -> String? {
        guard has(key) else { return nil }
        guard let value = object[key] as? String else {
            throw Rejection(.schema, "field '\(path)\(key)' must be a string")
        }
        // Bytes bound characters from above, and counting bytes is free: characters are counted only when needed.
        guard value.utf8.count <= maxLength || value.count <= maxLength else {
            throw Rejection(.schema, "field '\(path)\(key)' is longer than \(maxLength) characters")
        }
        return value
    }

    /// A JSON boolean.
    public func bool(_ key: String) throws(Rejection) -> Bool {
        guard has(key) else { throw Rejection(.schema, "missing required field '\(path)\(key)'") }
        guard let flag = object[key] as? Bool else {
            throw Rejection(.schema, "field '\(path)\(key)' must be a boolean")
        }
        return flag
    }

    /// A finite JSON number.
    public func number(_ key: String) throws(Rejection) -> Double {
        guard has(key) else { throw Rejection(.schema, "missing required field '\(path)\(key)'") }
        guard let number = object[key] as? Double, number.isFinite else {
            throw Rejection(.schema, "field '\(path)\(key)' must be a number")
        }
        return number
    }

    /// One of `allowed`.
    public func choice<Value: RawRepresentable<String>>(_ key: String, _ type: Value.Type) throws(Rejection) -> Value {
        guard let value = try optionalChoice(key, type) else { throw Rejection(.schema, "missing required field '\(path)\(key)'") }
        return value
    }

    public func optionalChoice<Value: RawRepresentable<String>>(_ key: String, _ type: Value.Type) throws(Rejection) -> Value? {
        guard let raw = try optionalString(key) else { return nil }
        guard let value = Value(rawValue: raw) else {
            throw Rejection(.schema, "field '\(path)\(key)' has a value that is not allowed")
        }
        return value
    }

    /// An RFC 3339 timestamp.
    public func timestamp(_ key: String) throws(Rejection) -> Date {
        let text = try string(key)
        guard let date = RFC3339.date(from: text) else {
            throw Rejection(.schema, "field '\(path)\(key)' must be an RFC 3339 timestamp")
        }
        return date
    }

    /// A nested object, when present.
    public func optionalObject(_ key: String) throws(Rejection) -> JSONFields? {
        guard has(key) else { return nil }
        guard let nested = object[key] as? [String: Any] else {
            throw Rejection(.schema, "field '\(path)\(key)' must be an object")
        }
        return JSONFields(nested, path: "\(path)\(key).")
    }

    /// An array of objects, when present, of at most `maxCount` elements.
    public func optionalObjects(_ key: String, maxCount: Int) throws(Rejection) -> [JSONFields]? {
        guard has(key) else { return nil }
        guard let array = object[key] as? [Any] else { throw Rejection(.schema, "field '\(path)\(key)' must be an array") }
        guard array.count <= maxCount else {
            throw Rejection(.schema, "field '\(path)\(key)' has more than \(maxCount) elements")
        }
        return try array.enumerated().map { (index, element) throws(Rejection) in
            guard let nested = element as? [String: Any] else {
                throw Rejection(.schema, "field '\(path)\(key)[\(index)]' must be an object")
            }
            return JSONFields(nested, path: "\(path)\(key)[\(index)].")
        }
    }

    /// An array of strings, when present, of at most `maxCount` elements.
    public func optionalStrings(_ key: String, maxCount: Int) throws(Rejection) -> [String]? {
        guard has(key) else { return nil }
        guard let array = object[key] as? [Any] else { throw Rejection(.schema, "field '\(path)\(key)' must be an array") }
        guard array.count <= maxCount else {
            throw Rejection(.schema, "field '\(path)\(key)' has more than \(maxCount) elements")
        }
        return try array.enumerated().map { (index, element) throws(Rejection) in
            guard let text = element as? String, text.count <= 256 else {
                throw Rejection(.schema, "field '\(path)\(key)[\(index)]' must be a string of at most 256 characters")
            }
            return text
        }
    }

    public func object(_ key: String) throws(Rejection) -> JSONFields {
        guard let nested = try optionalObject(key) else { throw Rejection(.schema, "missing required field '\(path)\(key)'") }
        return nested
    }
}
