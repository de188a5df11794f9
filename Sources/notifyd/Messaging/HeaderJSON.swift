import AMQP
import Foundation
import NotifyCore

/// Message properties as JSON, for the parked-message archive and the messages redrive publishes from it:
/// `{contentType?, type?, correlationId?, messageId?, appId?, headers: {...}}`. Header values keep their shape
/// (strings, integers, booleans, arrays, tables; timestamps as seconds, bytes as base64 strings).
enum PropertiesJSON {
    static func encode(_ properties: AMQPProperties, dropping drop: (String) -> Bool = { _ in false }) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if let value = properties.contentType { members.append(("contentType", .string(value))) }
        if let value = properties.type { members.append(("type", .string(value))) }
        if let value = properties.correlationID { members.append(("correlationId", .string(value))) }
        if let value = properties.messageID { members.append(("messageId", .string(value))) }
        if let value = properties.appID { members.append(("appId", .string(value))) }
        let headers = properties.headers.filter { !drop($0.key) }.sorted { $0.key < $1.key }
        members.append(("headers", .object(headers.map { ($0.key, json($0.value)) })))
        return .object(members)
    }

    static func json(_ value: AMQPFieldValue) -> JSONValue {
        switch value {
        case .string(let text): .string(text)
        case .bool(let flag): .bool(flag)
        case .int(let number): .int(Int(clamping: number))
        case .double(let number): .string(String(number))
        case .timestamp(let seconds): .int(Int(clamping: seconds))
        case .bytes(let bytes): .string(Data(bytes).base64EncodedString())
        case .array(let values): .array(values.map(json))
        case .table(let table): .object(table.sorted { $0.key < $1.key }.map { ($0.key, json($0.value)) })
        case .void: .null
        }
    }

    /// Properties from the JSON `encode` wrote (read back from the database); nil when it is not such JSON.
    static func decode(_ text: String) -> AMQPProperties? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return nil }
        var properties = AMQPProperties()
        properties.contentType = object["contentType"] as? String
        properties.type = object["type"] as? String
        properties.correlationID = object["correlationId"] as? String
        properties.messageID = object["messageId"] as? String
        properties.appID = object["appId"] as? String
        for (name, value) in object["headers"] as? [String: Any] ?? [:] {
            if let field = field(value) { properties.headers[name] = field }
        }
        return properties
    }

    private static func field(_ value: Any) -> AMQPFieldValue? {
        switch value {
        case let text as String: return .string(text)
        case let number as NSNumber:
            if type(of: number) == type(of: NSNumber(value: true)) { return .bool(number.boolValue) }
            return .int(number.int64Value)
        case let array as [Any]: return .array(array.compactMap(field))
        case let table as [String: Any]: return .table(table.compactMapValues(field))
        default: return nil
        }
    }
}
