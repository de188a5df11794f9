import AsyncHTTPClient
import Foundation
import NIOCore
import StackSupport

/// A provider's contract fake (`ScriptServer`), a test's own, with its JSON control endpoints.
final class FakeServer: @unchecked Sendable {
    let process: ScriptServer

    init(script: String, arguments: [String], environment: [String: String]) throws {
        process = try ScriptServer(script: script, arguments: arguments, environment: environment)
    }

    var port: Int { process.port }
    var baseURL: String { process.baseURL }

    func get(_ path: String) async throws -> [[String: Any]] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: baseURL + path), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [[String: Any]] ?? []
    }

    func post(_ path: String, _ body: [String: Any]) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 1 << 20)
        return try JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any] ?? [:]
    }

    /// The next `count` requests are answered with `status` (and the fake's other cue fields).
    func cue(status: Int, count: Int, _ extra: [String: Any] = [:]) async throws {
        _ = try await post("/_fake/cue", extra.merging(["status": status, "count": count]) { $1 })
    }
}

/// A rules file of a test's own: the shipped rules with the payment rules' channels (with a channel fallback,
/// optionally, and the confirmed payment's lane) replaced, or given a digest (its JSON). Removed when the value goes.
final class TestRules: @unchecked Sendable {
    let folder: URL

    init(channels: [String]? = nil, fallback: [String: String] = [:], confirmedPriority: String? = nil, digest: String? = nil) throws {
        var rules = try String(contentsOf: repositoryRoot.appendingPathComponent("Config/notification-rules.json"), encoding: .utf8)
        if channels != nil || digest != nil {
            let list = (channels ?? ["in-app", "email"]).map { "\"\($0)\"" }.joined(separator: ", ")
            let fallbacks =
                fallback.isEmpty
                ? ""
                : ", \"fallback\": {" + fallback.map { "\"\($0.key)\": \"\($0.value)\"" }.joined(separator: ", ") + "}"
            let digests = digest.map { ", \"digest\": \($0)" } ?? ""
            rules = rules.replacingOccurrences(
                of: #""channels": ["in-app", "email"]"#, with: "\"channels\": [\(list)]\(fallbacks)\(digests)")
        }
        if let confirmedPriority {
            rules = rules.replacingOccurrences(
                of: #""template": "payment-received", "type": "payment", "priority": "normal""#,
                with: "\"template\": \"payment-received\", \"type\": \"payment\", \"priority\": \"\(confirmedPriority)\"")
        }
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("rules-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try rules.write(to: folder.appendingPathComponent("rules.json"), atomically: true, encoding: .utf8)
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    var environment: [String: String] {
        [
            "NOTIFY_TEMPLATES_RULES": folder.appendingPathComponent("rules.json").path,
            "NOTIFY_TEMPLATES_DIRECTORY": repositoryRoot.appendingPathComponent("Config/templates").path,
        ]
    }
}
