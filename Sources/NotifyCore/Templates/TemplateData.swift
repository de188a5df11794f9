import Foundation

/// The values a send or a preview gives a template (`data`): a JSON object of strings, numbers, booleans, lists and
/// objects. Kept as `JSONValue` with its keys sorted, so two requests that give the same values in another order hash
/// the same; a number is its integer when it has no fraction, else its text (both render as the same digits).
public struct TemplateData: Sendable, Equatable {
    public var value: JSONValue

    public init(_ value: JSONValue = .object([])) { self.value = value }

    /// `fields.key`, which must be an object when present (an empty object when absent).
    init(_ fields: JSONFields, key: String) throws(Rejection) {
        guard fields.has(key) else {
            self.init()
            return
        }
        guard let object = fields.object[key] as? [String: Any] else { throw Rejection(.schema, "field '\(fields.path)\(key)' must be an object") }
        self.init(Self.canonical(object))
    }

    /// The top-level names given, `null` ones included (a caller says "nothing here" with null).
    public var names: Set<String> {
        guard case .object(let members) = value else { return [] }
        return Set(members.map(\.0))
    }

    /// What Mustache renders from: nulls left out (empty, and false in a section).
    var renderable: [String: Any] { Self.renderable(value) as? [String: Any] ?? [:] }

    private static func canonical(_ any: Any) -> JSONValue {
        switch any {
        case let text as String: return .string(text)
        case let flag as Bool: return .bool(flag)
        case let number as Double:
            if number.rounded() == number, abs(number) < 9e15 { return .int(Int(number)) }
            return .string(String(number))
        case let list as [Any]: return .array(list.map(canonical))
        case let object as [String: Any]: return .object(object.keys.sorted().map { ($0, canonical(object[$0]!)) })
        default: return .null
        }
    }

    private static func renderable(_ value: JSONValue) -> Any? {
        switch value {
        case .string(let text): text
        case .int(let number): number
        case .bool(let flag): flag
        case .null: nil
        case .array(let items): items.compactMap(renderable)
        case .object(let members): Dictionary(members.compactMap { key, value in renderable(value).map { (key, $0) } }, uniquingKeysWith: { a, _ in a })
        }
    }
}
