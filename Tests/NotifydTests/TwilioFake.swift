import AsyncHTTPClient
import Foundation
import NIOCore
import TestSupport

/// A test's own Twilio contract fake (`deploy/dev/fakes/twilio_fake.py`) on a free loopback port, and the daemon
/// settings that send SMS through it with receipts coming back to the daemon's listener.
final class TwilioFake: @unchecked Sendable {
    static let accountSID = "AC" + String(repeating: "0", count: 24) + "7e57ab12"
    /// Not a secret worth keeping: it exists only between this test's daemon and its fake.
    let authToken = "test-token-\(UUID().uuidString.prefix(8))"
    let port: Int
    /// The daemon's listener port, where the fake posts status callbacks.
    let listenerPort: Int
    private let process = Process()

    init(callbackDelay: Double = 0.05) throws {
        port = try freeLoopbackPort()
        listenerPort = try freeLoopbackPort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repositoryRoot.appendingPathComponent("deploy/dev/fakes/twilio_fake.py").path,
                             "--port", String(port), "--account-sid", Self.accountSID, "--callback-delay", String(callbackDelay)]
        process.environment = ProcessInfo.processInfo.environment.merging(["TWILIO_FAKE_AUTH_TOKEN": authToken]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 where !SMTPPeer.listening(port) { Thread.sleep(forTimeInterval: 0.05) }
        guard SMTPPeer.listening(port) else { throw SupportFailure("the Twilio fake did not start on \(port)") }
    }

    /// SIGKILL: the test process blocks SIGTERM, and its children inherit the mask.
    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// The daemon's settings for this fake: SMS through it from a fixed number, receipts to the listener.
    var environment: [String: String] {
        [
            "NOTIFY_TWILIO_BASE_URL": "http://127.0.0.1:\(port)", "NOTIFY_TWILIO_ACCOUNT_SID": Self.accountSID,
            "NOTIFY_TWILIO_AUTH_TOKEN": authToken, "NOTIFY_TWILIO_FROM": "+15005550006",
            "NOTIFY_HTTP_PORT": String(listenerPort), "NOTIFY_HTTP_RECEIPT_BASE_URL": "http://127.0.0.1:\(listenerPort)",
        ]
    }

    /// Every message the fake accepted: `sid`, `to`, `body`, `statusCallback`, `at` (seconds since 1970).
    func messages() async throws -> [[String: Any]] { try await get("/_fake/messages") }
    /// Every callback it posted: `sid`, `status`, `answer` (the status our listener answered).
    func callbacks() async throws -> [[String: Any]] { try await get("/_fake/callbacks") }

    /// The next `count` requests are answered with `status` (and `Retry-After`, when given).
    func cue(status: Int, count: Int, retryAfter: Int? = nil) async throws {
        var cue: [String: Any] = ["status": status, "count": count]
        if let retryAfter { cue["retryAfter"] = retryAfter }
        _ = try await post("/_fake/cue", cue)
    }

    /// Posts one more callback for message `sid` now, signed (or not, when `tamper`); returns our listener's answer.
    func replay(sid: String, status: String, tamper: Bool = false) async throws -> Int {
        let answer = try await post("/_fake/replay", ["sid": sid, "status": status, "tamper": tamper])
        return (answer["answer"] as? NSNumber)?.intValue ?? -1
    }

    private func get(_ path: String) async throws -> [[String: Any]] {
        let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 64 << 20)
        return try JSONSerialization.jsonObject(with: Data(buffer: body)) as? [[String: Any]] ?? []
    }

    private func post(_ path: String, _ body: [String: Any]) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: body)))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        let data = try await response.body.collect(upTo: 1 << 20)
        return try JSONSerialization.jsonObject(with: Data(buffer: data)) as? [String: Any] ?? [:]
    }
}

/// A rules file of a test's own: the shipped rules with the payment rules' channels (and, optionally, the
/// confirmed payment's lane) replaced. Removed when the value goes.
final class TestRules: @unchecked Sendable {
    let folder: URL

    init(channels: [String]? = nil, confirmedPriority: String? = nil) throws {
        var rules = try String(contentsOf: repositoryRoot.appendingPathComponent("Config/notification-rules.json"), encoding: .utf8)
        if let channels {
            let list = channels.map { "\"\($0)\"" }.joined(separator: ", ")
            rules = rules.replacingOccurrences(of: #""channels": ["in-app", "email"]"#, with: "\"channels\": [\(list)]")
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
