import Foundation
import TestSupport
import Testing

/// SES's event publishing as receipts: the fake plays SES and SNS, signing its messages as SNS does.
@Suite("SES events through SNS: signed receipts for email")
struct SESEventTests {
    @Test("the subscription is confirmed; Delivery makes an email delivered, a permanent bounce bounced, a transient one undelivered; forged and late events change nothing")
    func events() async throws {
        let ses = try SESFake()
        let listener = try freeLoopbackPort()
        let service = try await ServiceHarness(environment: ses.eventEnvironment(listener: listener).merging([
            "NOTIFY_EMAIL_FROM": "notifications@flowmart.example",
        ]) { $1 })
        defer { Task { await service.shutDown() } }
        let subscribed = try await ses.subscribe("http://127.0.0.1:\(listener)/receipts/ses")
        #expect(subscribed.answer == 200 && subscribed.confirmed, "the daemon fetched the SubscribeURL")

        let users = ["ok": "ok@example.com", "hard": "hard@bounce.example", "full": "full@soft.example"]
        _ = try await service.db.withConnection { db in
            try db.copy(into: "recipients", columns: ["user_id", "email"], rows: users.map { [$0.key, $0.value] })
        }
        try await service.publish(users.keys.sorted().enumerated().map { Payments.confirmed(user: $1, index: $0) })

        let delivered = try await EmailDeliveryTests.delivery(of: "ok", service, until: "delivered")
        let bounced = try await EmailDeliveryTests.delivery(of: "hard", service, until: "bounced")
        _ = try await EmailDeliveryTests.delivery(of: "full", service, until: "undelivered")
        #expect(delivered["attempts"] as? Int == 1 && bounced["attempts"] as? Int == 1)
        let messages = try await ses.messages()
        #expect(messages.count == 3)
        #expect(messages.allSatisfy { (($0["tags"] as? [String: [String]])?["delivery"]?.first?.count ?? 0) == 36 },
                "every message carries its delivery id as a tag")
        #expect(try await ses.events().allSatisfy { $0["answer"] as? Int == 200 })

        let hard = try #require(messages.first { ($0["to"] as? [String]) == ["hard@bounce.example"] }?["messageId"] as? String)
        #expect(try await ses.replay(messageId: hard, eventType: "Delivery", tamper: true) == 401, "a forged event is refused")
        #expect(try await ses.replay(messageId: hard, eventType: "Delivery") == 200)
        #expect(try await EmailDeliveryTests.delivery(of: "hard", service, until: nil)["status"] as? String == "bounced",
                "a late Delivery never moves a bounce back")
        let stored = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM delivery_receipts WHERE provider = 'ses'")[0].decode(0, as: Int.self)
        }
        #expect(stored == 4, "three events and the late one are kept; the forged one is not")
    }
}
