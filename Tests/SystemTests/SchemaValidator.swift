import Foundation
import NotifyCore

/// Validates JSON against the draft-07 keywords the catalog's schemas use: type, properties, required,
/// additionalProperties (false), enum, items and format date-time. Returns the violations found.
struct SchemaValidator {
    let schema: [String: Any]

    init(named name: String) throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Schemas/\(name).schema.json")
        schema = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    func violations(of value: Any) -> [String] { check(value, against: schema, at: "$") }

    private func check(_ value: Any, against schema: [String: Any], at path: String) -> [String] {
        var problems: [String] = []
        if let type = schema["type"] as? String, !Self.matches(value, type) {
            return ["\(path): expected \(type)"]
        }
        if let allowed = schema["enum"] as? [String], !allowed.contains(value as? String ?? "\u{0}") {
            problems.append("\(path): not one of \(allowed)")
        }
        if schema["format"] as? String == "date-time", let text = value as? String, RFC3339.date(from: text) == nil {
            problems.append("\(path): not a date-time")
        }
        if let object = value as? [String: Any] {
            let properties = schema["properties"] as? [String: [String: Any]] ?? [:]
            for required in schema["required"] as? [String] ?? [] where object[required] == nil {
                problems.append("\(path): missing \(required)")
            }
            for (key, child) in object {
                if let childSchema = properties[key] {
                    problems += check(child, against: childSchema, at: "\(path).\(key)")
                } else if schema["additionalProperties"] as? Bool == false {
                    problems.append("\(path): unexpected property \(key)")
                }
            }
        }
        if let array = value as? [Any], let items = schema["items"] as? [String: Any] {
            for (index, item) in array.enumerated() { problems += check(item, against: items, at: "\(path)[\(index)]") }
        }
        return problems
    }

    private static func matches(_ value: Any, _ expected: String) -> Bool {
        switch expected {
        case "object": value is [String: Any]
        case "array": value is [Any]
        case "string": value is String
        case "number", "integer": (value as? NSNumber).map { Swift.type(of: $0) == NSNumber.self } ?? false
        case "boolean": value is Bool
        default: true
        }
    }
}
