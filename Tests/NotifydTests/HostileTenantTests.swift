import Foundation
import TestSupport
import Testing

/// A malicious tenant and a stranger against a running daemon: each request that once pinned, bloated or stopped it is
/// refused cheaply, and the daemon goes on answering everybody else.
@Suite("A hostile tenant: render bombs are refused in milliseconds, the daemon stays live and small", .serialized)
struct HostileTenantTests {
    static let bomb = "{{#a}}{{#a}}{{#a}}x{{/a}}{{/a}}{{/a}}"
    static var thousandZeros: [Any] { [Any](repeating: 0, count: 1_000) }

    @Test("the issue's preview (3 KB: three nested sections over a thousand zeros) and a send through such a template: 400 naming the field")
    func renderBomb() async throws {
        let (service, port) = try await SendHTTPTests.service()
        defer { Task { await service.shutDown() } }
        let tenant = try await TenantTests.onboard(service)
        let key = tenant.productKey

        for _ in 0..<3 {
            let started = ContinuousClock.now
            let preview = try await SendHTTPTests.call(port, .POST, "/v1/template-previews", key: key, body: [
                "template": ["title": Self.bomb, "body": "b"], "data": ["a": Self.thousandZeros],
            ])
            #expect(preview.status == 400, "\(preview.text)")
            #expect(preview.text.contains("field 'data.a'"), "\(preview.text)")
            #expect(ContinuousClock.now - started < .seconds(2))
        }
        let published = try await SendHTTPTests.call(port, .PUT, "/v1/templates/bomb", key: key, body: [
            "template": ["title": "Hello", "body": Self.bomb, "email": ["html": Self.bomb]],
        ])
        #expect(published.status == 201, "\(published.text)")
        let send = try await SendHTTPTests.call(port, .POST, "/v1/notifications/email", key: key, body: [
            "message_category": "ORDER_CONFIRMATION", "recipient": ["email": "bomb-\(service.id)@example.com"],
            "template": ["name": "bomb", "data": ["a": Self.thousandZeros]],
        ])
        #expect(send.status == 400 && send.text.contains("field 'template.data.a'"), "\(send.text)")
        let tooLong = try await SendHTTPTests.call(port, .POST, "/v1/template-previews", key: key, body: [
            "template": ["title": "t", "body": "b"], "data": ["a": [Any](repeating: 0, count: 1_001)],
        ])
        #expect(tooLong.status == 400 && tooLong.text.contains("field 'data.a' has more than 1000 elements"), "\(tooLong.text)")

        // The daemon is live, answers others at once, and never grew: the bombs were stopped, not rendered.
        #expect(try await SendHTTPTests.call(port, .GET, "/health/live", key: nil).status == 200)
        let fine = try await SendHTTPTests.call(port, .POST, "/v1/template-previews", key: key, body: [
            "template": ["title": "{{#a}}{{.}}{{/a}}", "body": "b"], "data": ["a": [1, 2, 3]],
        ])
        #expect(fine.status == 200 && fine.text.contains("123"), "\(fine.text)")
        let peak = try #require(service.daemon.peakResidentBytes)
        #expect(peak < 150 * 1024 * 1024, "peak RSS \(peak / 1024 / 1024) MB")
    }
}
