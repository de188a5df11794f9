import Foundation
import StackSupport
import Testing

/// A malicious tenant and a stranger against a running daemon: each request that once pinned, bloated or stopped it is
/// refused cheaply, and the daemon goes on answering everybody else.
@Suite("A hostile tenant: render bombs are refused in milliseconds, the daemon stays live and small", .needsStack, .serialized)
struct HostileTenantTests {
    static let bomb = "{{#a}}{{#a}}{{#a}}x{{/a}}{{/a}}{{/a}}"
    static var thousandZeros: [Any] { [Any](repeating: 0, count: 1_000) }

    @Test(
        "the issue's preview (3 KB: three nested sections over a thousand zeros) and a send through such a template: 400 naming the field")
    func renderBomb() async throws {
        let (service, port) = try await SendHTTPTests.service()
        defer { Task { await service.shutDown() } }
        let tenant = try await TenantTests.onboard(service)
        let key = tenant.productKey

        for _ in 0..<3 {
            let started = ContinuousClock.now
            let preview = try await SendHTTPTests.call(
                port, .POST, "/v1/template-previews", key: key,
                body: [
                    "template": ["title": Self.bomb, "body": "b"], "data": ["a": Self.thousandZeros],
                ])
            #expect(preview.status == 400, "\(preview.text)")
            #expect(preview.text.contains("field 'data.a'"), "\(preview.text)")
            #expect(ContinuousClock.now - started < .seconds(2))
        }
        let published = try await SendHTTPTests.call(
            port, .PUT, "/v1/templates/bomb", key: key,
            body: [
                "template": ["title": "Hello", "body": Self.bomb, "email": ["html": Self.bomb]]
            ])
        #expect(published.status == 201, "\(published.text)")
        let send = try await SendHTTPTests.call(
            port, .POST, "/v1/notifications/email", key: key,
            body: [
                "message_category": "ORDER_CONFIRMATION", "recipient": ["email": "bomb-\(service.id)@example.com"],
                "template": ["name": "bomb", "data": ["a": Self.thousandZeros]],
            ])
        #expect(send.status == 400 && send.text.contains("field 'template.data.a'"), "\(send.text)")
        let tooLong = try await SendHTTPTests.call(
            port, .POST, "/v1/template-previews", key: key,
            body: [
                "template": ["title": "t", "body": "b"], "data": ["a": [Any](repeating: 0, count: 1_001)],
            ])
        #expect(tooLong.status == 400 && tooLong.text.contains("field 'data.a' has more than 1000 elements"), "\(tooLong.text)")

        // The daemon is live, answers others at once, and never grew: the bombs were stopped, not rendered.
        #expect(try await SendHTTPTests.call(port, .GET, "/health/live", key: nil).status == 200)
        let fine = try await SendHTTPTests.call(
            port, .POST, "/v1/template-previews", key: key,
            body: [
                "template": ["title": "{{#a}}{{.}}{{/a}}", "body": "b"], "data": ["a": [1, 2, 3]],
            ])
        #expect(fine.status == 200 && fine.text.contains("123"), "\(fine.text)")
        let peak = try #require(service.daemon.peakResidentBytes)
        #expect(peak < 150 * 1024 * 1024, "peak RSS \(peak / 1024 / 1024) MB")
    }

    @Test(
        "schemathesis plays a hostile tenant from /openapi.json (examples, coverage, fuzzing, and the stateful phase over its links) while another tenant sends: no 500, every answer as documented; the other's sends are accepted within 2 s throughout; the daemon stays live and small"
    )
    func schemathesis() async throws {
        let (service, port) = try await SendHTTPTests.service()
        defer { Task { await service.shutDown() } }
        let hostile = try await TenantTests.onboard(service, name: "Hostile")
        let bystander = try await TenantTests.onboard(service, name: "Bystander")
        // Onboarding is the admin's; keys and the product's state would end the run (a revoked key, a deactivated
        // product): those operations are left out, everything else is called with generated bodies and parameters.
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", "-m", "schemathesis.cli", "run", "http://127.0.0.1:\(port)/openapi.json",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
            "--max-examples", "25", "--phases", "examples,coverage,fuzzing,stateful", "--generation-deterministic", "--no-color",
            "--exclude-operation-id", "RevokeApiKey", "--exclude-operation-id", "RotateApiKey",
            "--exclude-operation-id", "UpdateProduct", "--exclude-operation-id", "UpdateOrganization",
        ]
        // The key reaches schemathesis through its configuration's environment substitution, not its arguments.
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("schemathesis-\(service.id)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try (#"headers = { "x-api-key" = "${NOTIFY_TEST_API_KEY}" }"# + "\n").write(
            to: folder.appendingPathComponent("schemathesis.toml"), atomically: true, encoding: .utf8)
        process.currentDirectoryURL = folder
        process.environment = ProcessInfo.processInfo.environment.merging(["NOTIFY_TEST_API_KEY": hostile.productKey]) { $1 }
        // Off the cooperative pool: the bystander's sends below run while schemathesis does.
        let finished = Flag()
        let run = Task {
            try await withCheckedThrowingContinuation { continuation in
                DispatchQueue.global().async {
                    let result = Result { try runCapturingOutput(process) }
                    finished.set()
                    continuation.resume(with: result)
                }
            }
        }
        var slowest = Duration.zero
        var sends = 0
        while !finished.isSet {
            let started = ContinuousClock.now
            let reply = try await SendHTTPTests.call(
                port, .POST, "/v1/notifications/in-app", key: bystander.productKey,
                body: [
                    "message_category": "ORDER_CONFIRMATION", "recipient": ["userId": "bystander"],
                    "content": ["title": "Order \(sends)", "body": "b"],
                ])
            #expect(reply.status == 202, "\(reply.text)")
            slowest = max(slowest, ContinuousClock.now - started)
            sends += 1
            try await Task.sleep(for: .milliseconds(500))
        }
        let (status, text) = try await run.value
        #expect(status == 0, "\(text.suffix(6000))")
        #expect(text.contains("passed") && text.contains("Stateful"), "\(text.suffix(3000))")
        #expect(slowest < .seconds(2), "the bystander's slowest send took \(slowest) over \(sends) sends")
        #expect(try await SendHTTPTests.call(port, .GET, "/health/live", key: nil).status == 200)
        let peak = try #require(service.daemon.peakResidentBytes)
        #expect(peak < 200 * 1024 * 1024, "peak RSS \(peak / 1024 / 1024) MB")
    }
}

/// A flag set once, from any thread.
private final class Flag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false

    var isSet: Bool { lock.withLock { value } }
    func set() { lock.withLock { value = true } }
}
