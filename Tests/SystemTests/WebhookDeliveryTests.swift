import Foundation
import Postgres
import StackSupport
import Testing

/// Webhooks as a channel: signed by Standard Webhooks, checked by the `standardwebhooks` package on the receiving
/// end; retries keep their id; 410 disables the endpoint; loopback is refused unless allowed.
@Suite("Webhooks: Standard Webhooks signatures, retries, 410, egress policy", .needsStack)
struct WebhookDeliveryTests {
    static func service(allowLoopback: Bool, rules: TestRules) async throws -> ServiceHarness {
        try await ServiceHarness(
            environment: rules.environment.merging([
                "NOTIFY_WEBHOOKS_ALLOW_LOOPBACK": allowLoopback ? "true" : "false",
                "NOTIFY_DELIVERY_RETRY_SECONDS_NORMAL": "1,1",
            ]) { $1 })
    }

    /// Registers `user`'s endpoint over RPC, as a client would.
    static func register(_ user: String, url: String, secrets: [String], _ service: ServiceHarness) async throws -> [String: Any] {
        let reply = try await service.call("UpsertRecipient", ["userId": user, "webhook": ["url": url, "secrets": secrets]])
        #expect(reply.status == 200, "\(reply.body)")
        return reply.body
    }

    @Test(
        "a webhook is posted signed with both secrets; the receiver verifies it knowing only the new one; a 500 is retried under the same webhook-id"
    )
    func signedAndRetried() async throws {
        let (old, new) = (WebhookReceiver.newSecret(), WebhookReceiver.newSecret())
        let receiver = try WebhookReceiver(secret: new)
        let rules = try TestRules(channels: ["in-app", "webhook"])
        let service = try await Self.service(allowLoopback: true, rules: rules)
        defer { Task { await service.shutDown() } }
        let reply = try await Self.register("hooked", url: receiver.url("flaky"), secrets: [old, new], service)
        let shown = try #require(reply["webhook"] as? [String: Any])
        #expect(shown["secrets"] as? Int == 2 && shown["url"] as? String == receiver.url("flaky"))
        #expect(!"\(reply)".contains(old) && !"\(reply)".contains(new), "a secret is never shown")
        try await service.publish([Payments.confirmed(user: "hooked", index: 1)])

        let delivery = try await EmailDeliveryTests.delivery(of: "hooked", channel: "webhook", service, until: "sent")
        #expect(delivery["attempts"] as? Int == 2)
        let received = try await receiver.received()
        #expect(received.count == 2)
        #expect(received.allSatisfy { $0["verified"] as? Bool == true }, "standardwebhooks verifies every attempt")
        #expect(Set(received.compactMap { $0["id"] as? String }) == [delivery["deliveryId"] as? String], "one webhook-id for both")
        let body = try #require((received.last?["body"] as? String).map { Data($0.utf8) })
        let payload = try #require(try JSONSerialization.jsonObject(with: body) as? [String: Any])
        #expect(payload["type"] as? String == "notification.created")
        #expect((payload["data"] as? [String: Any])?["userId"] as? String == "hooked")
        #expect(!service.daemon.log.contains(new) && !service.daemon.log.contains(old))
    }

    @Test("an endpoint answering 410 is disabled: the delivery is dead, the next one skipped, nothing more posted")
    func goneDisables() async throws {
        let secret = WebhookReceiver.newSecret()
        let receiver = try WebhookReceiver(secret: secret)
        let rules = try TestRules(channels: ["in-app", "webhook"])
        let service = try await Self.service(allowLoopback: true, rules: rules)
        defer { Task { await service.shutDown() } }
        _ = try await Self.register("gone-user", url: receiver.url("gone"), secrets: [secret], service)
        try await service.publish([Payments.confirmed(user: "gone-user", index: 1)])

        let dead = try await EmailDeliveryTests.delivery(of: "gone-user", channel: "webhook", service, until: "dead")
        #expect((dead["lastError"] as? [String: Any])?["code"] as? String == "webhook-gone")
        var disabled: String?
        let deadline = ContinuousClock.now + .seconds(10)
        while disabled == nil, ContinuousClock.now < deadline {
            let entry = try await service.call("GetRecipient", ["userId": "gone-user"]).body
            disabled = (entry["webhook"] as? [String: Any])?["disabled"] as? String
            if disabled == nil { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(disabled == "410 Gone")
        try await service.publish([Payments.confirmed(user: "gone-user", index: 2)])
        let skipped = try await service.supervise(timeout: .seconds(20)) {
            try await service.db.withConnection { db in
                try db.query("SELECT count(*) FROM deliveries WHERE channel = 'webhook' AND status = 'skipped'")[0].decode(0, as: Int.self)
            } == 1
        }
        #expect(skipped)
        #expect(try await receiver.received().count == 1)
    }

    @Test("without webhooks.allowLoopback an endpoint on 127.0.0.1 is refused before anything is sent")
    func loopbackRefused() async throws {
        let secret = WebhookReceiver.newSecret()
        let receiver = try WebhookReceiver(secret: secret)
        let rules = try TestRules(channels: ["in-app", "webhook"])
        let service = try await Self.service(allowLoopback: false, rules: rules)
        defer { Task { await service.shutDown() } }
        _ = try await Self.register("ssrf", url: receiver.url("ok"), secrets: [secret], service)
        try await service.publish([Payments.confirmed(user: "ssrf", index: 1)])

        let dead = try await EmailDeliveryTests.delivery(of: "ssrf", channel: "webhook", service, until: "dead")
        #expect((dead["lastError"] as? [String: Any])?["code"] as? String == "webhook-address-refused")
        #expect((dead["lastError"] as? [String: Any])?["message"] as? String == "the endpoint's host resolves to loopback (127.0.0.0/8)")
        #expect(try await receiver.received().isEmpty)
    }
}
