import Foundation

/// The values a send or a preview gives a template (`data`): a JSON object of strings, numbers, booleans, lists and
/// objects. Kept as `JSONValue` with its keys sorted, so two requests that give the same values in another order hash
/// the same; a number is its integer when it has no fraction, else its text (both render as the same digits).
public struct TemplateData: Sendable, Equatable {
    /// The largest `data`, as JSON: an order with its lines and addresses is a few KiB.
    public static let maxBytes = 64 * 1024
    /// The most elements of one list, or members of one object.
    public static let maxCount = 1_000
    /// The deepest nesting of lists and objects below `data` itself.
    public static let maxDepth = 8

    public var value: JSONValue

    public init(_ value: JSONValue = .object([])) { self.value = value }

    /// `fields.key`, which must be an object when present (an empty object when absent).
    init(_ fields: JSONFields, key: String) throws(Rejection) {
        guard fields.has(key) else {
            self.init()
            return
        }
        guard let object = fields.object[key] as? [String: Any] else {
            throw Rejection(.schema, "field '\(fields.path)\(key)' must be an object")
        }
        let path = "\(fields.path)\(key)"
        self.init(try Self.canonical(object, path: path, depth: 0))
        guard value.bytes.count <= Self.maxBytes else {
            throw Rejection(.schema, "field '\(path)' is larger than \(Self.maxBytes) bytes as JSON")
        }
    }

    /// The top-level names given, `null` ones included (a caller says "nothing here" with null).
    public var names: Set<String> {
        guard case .object(let members) = value else { return [] }
        return Set(members.map(\.0))
    }

    /// What Mustache renders from: nulls left out (empty, and false in a section).
    var renderValues: [String: RenderValue] {
        guard case .object(let members) = RenderValue(value) else { return [:] }
        return members
    }

    private static func canonical(_ any: Any, path: String, depth: Int) throws(Rejection) -> JSONValue {
        switch any {
        case let text as String: return .string(text)
        case let flag as Bool: return .bool(flag)
        case let number as Double:
            if number.rounded() == number, abs(number) < 9e15 { return .int(Int(number)) }
            return .string(String(number))
        case let list as [Any]:
            try check(count: list.count, depth: depth, path: path)
            var items: [JSONValue] = []
            for (index, item) in list.enumerated() { items.append(try canonical(item, path: "\(path)[\(index)]", depth: depth + 1)) }
            return .array(items)
        case let object as [String: Any]:
            try check(count: object.count, depth: depth, path: path)
            var members: [(String, JSONValue)] = []
            for key in object.keys.sorted() { members.append((key, try canonical(object[key]!, path: "\(path).\(key)", depth: depth + 1))) }
            return .object(members)
        default: return .null
        }
    }

    private static func check(count: Int, depth: Int, path: String) throws(Rejection) {
        guard count <= maxCount else { throw Rejection(.schema, "field '\(path)' has more than \(maxCount) elements") }
        guard depth <= maxDepth else { throw Rejection(.schema, "field '\(path)' nests deeper than \(maxDepth) levels below 'data'") }
    }
}
