import Foundation
import Postgres
import StackSupport
import Testing

/// SMS through Twilio's Messages API, against the contract fake: what the fake received, what our listener
/// answered its signed callbacks, and what the tracking queries say.
@Suite("SMS through Twilio: sends, permanent errors, 429, receipts", .needsStack)
struct SMSDeliveryTests {
    /// A harness whose payment rules send in-app and SMS through `fake`.
    static func service(_ fake: TwilioFake, rules: TestRules, _ settings: [String: String] = [:]) async throws -> ServiceHarness {
        try await ServiceHarness(
            environment: EmailDeliveryTests.smtpEnvironment.merging(fake.environment) { $1 }
                .merging(rules.environment) { $1 }.merging(settings) { $1 })
    }

    static func register(_ phones: [(user: String, phone: String)], _ service: ServiceHarness) async throws {
        _ = try await service.db.withConnection { db in
            try db.copy(into: "recipients", columns: ["user_id", "phone"], rows: phones.map { [$0.user, $0.phone] })
        }
    }

    static func history(_ delivery: [String: Any]) -> [String] {
        (delivery["history"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
    }

    @Test(
        "an SMS goes out once, with Basic auth (the token from a credential file) and a status callback naming its delivery; the receipts make it delivered"
    )
    func sentThenDelivered() async throws {
        let fake = try TwilioFake()
        let rules = try TestRules(channels: ["in-app", "sms"])
        let credentials = try SecretsTests.credentials(["notify-twilio-auth-token": fake.authToken])
        defer { try? FileManager.default.removeItem(atPath: credentials) }
        let service = try await Self.service(
            fake, rules: rules,
            [
                "NOTIFY_TWILIO_AUTH_TOKEN": "wrong-token-the-credential-wins", "CREDENTIALS_DIRECTORY": credentials,
            ])
        defer { Task { await service.shutDown() } }
        try await Self.register([("sms-user", "+14155550100")], service)
        try await service.publish([Payments.confirmed(user: "sms-user", index: 1)])

        let delivery = try await EmailDeliveryTests.delivery(of: "sms-user", channel: "sms", service, until: "delivered")
        let messages = try await fake.messages()
        #expect(messages.count == 1)
        let message = try #require(messages.first)
        #expect(message["to"] as? String == "+14155550100")
        #expect(message["from"] as? String == "+15005550006")
        #expect((message["body"] as? String)?.isEmpty == false)
        let deliveryID = try #require(delivery["deliveryId"] as? String)
        #expect(message["statusCallback"] as? String == "http://127.0.0.1:\(fake.listenerPort)/receipts/twilio?delivery=\(deliveryID)")
        #expect(delivery["providerMessageId"] as? String == message["sid"] as? String)
        #expect(Self.history(delivery) == ["queued", "sending", "sent", "delivered"])
        // Both callbacks (sent, then delivered) were verified and answered 200.
        let callbacks = try await fake.callbacks()
        #expect(callbacks.map { $0["answer"] as? Int } == [200, 200])
        #expect(!service.daemon.log.contains(fake.authToken), "the auth token never reaches a log")
    }

    @Test("receipts: a bad signature is refused with 401, a late 'sent' after 'delivered' changes nothing, an undelivered report is kept")
    func receiptsMergeMonotonically() async throws {
        let fake = try TwilioFake()
        let rules = try TestRules(channels: ["in-app", "sms"])
        let service = try await Self.service(fake, rules: rules)
        defer { Task { await service.shutDown() } }
        try await Self.register([("late-user", "+14155550101"), ("lost-user", "+15550190000")], service)
        try await service.publish([Payments.confirmed(user: "late-user", index: 1), Payments.confirmed(user: "lost-user", index: 2)])

        _ = try await EmailDeliveryTests.delivery(of: "late-user", channel: "sms", service, until: "delivered")
        let sid = try #require(try await fake.messages().first { $0["to"] as? String == "+14155550101" }?["sid"] as? String)
        #expect(try await fake.replay(sid: sid, status: "undelivered", tamper: true) == 401)
        #expect(try await fake.replay(sid: sid, status: "sent") == 200)
        let after = try await EmailDeliveryTests.delivery(of: "late-user", channel: "sms", service, until: nil)
        #expect(after["status"] as? String == "delivered", "a late callback never moves a delivery back")

        let lost = try await EmailDeliveryTests.delivery(of: "lost-user", channel: "sms", service, until: "undelivered")
        #expect((lost["lastError"] as? [String: Any])?["code"] as? String == "twilio-30003")
        // Every receipt is kept, including those that changed nothing; the tampered one is not.
        let kept = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM delivery_receipts")[0].decode(0, as: Int.self)
        }
        #expect(kept == 5)
    }

    @Test("a permanent Twilio error (21211, invalid number) ends the delivery at once: dead, parked, tried once")
    func permanentErrorEndsIt() async throws {
        let fake = try TwilioFake()
        let rules = try TestRules(channels: ["in-app", "sms"])
        let service = try await Self.service(fake, rules: rules)
        defer { Task { await service.shutDown() } }
        try await Self.register([("bad-number", "+15005550001")], service)
        try await service.publish([Payments.confirmed(user: "bad-number", index: 1)])

        let delivery = try await EmailDeliveryTests.delivery(of: "bad-number", channel: "sms", service, until: "dead")
        #expect(delivery["attempts"] as? Int == 1)
        #expect((delivery["lastError"] as? [String: Any])?["code"] as? String == "twilio-21211")
        #expect((delivery["lastError"] as? [String: Any])?["class"] as? String == "permanent")
        #expect(await service.waitForParked(1) == 1)
        #expect(try await fake.messages().isEmpty)
    }

    @Test("429 with Retry-After: 2 paces the SMS: no attempt spent, sent once, no earlier than 2 s later")
    func throttledIsPaced() async throws {
        let fake = try TwilioFake()
        let rules = try TestRules(channels: ["in-app", "sms"])
        let service = try await Self.service(fake, rules: rules)
        defer { Task { await service.shutDown() } }
        try await Self.register([("throttled", "+14155550102")], service)
        try await fake.cue(status: 429, count: 1, retryAfter: 2)
        let published = Date().timeIntervalSince1970
        try await service.publish([Payments.confirmed(user: "throttled", index: 1)])

        let delivery = try await EmailDeliveryTests.delivery(of: "throttled", channel: "sms", service, until: "delivered")
        #expect(delivery["attempts"] as? Int == 1, "the 429 spent no attempt")
        #expect(Self.history(delivery) == ["queued", "sending", "sent", "delivered"])
        let messages = try await fake.messages()
        #expect(messages.count == 1)
        let sentAt = try #require(messages.first?["at"] as? Double)
        #expect(sentAt - published >= 2, "sent after the provider's Retry-After: \(sentAt - published) s")
        // The provider's shared schedule was pushed for every daemon.
        let pushed = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM rate_limits WHERE key = 'provider:twilio'")[0].decode(0, as: Int.self)
        }
        #expect(pushed == 1)
        let metrics = try await HTTPListenerTests.get(fake.listenerPort, "/metrics").text
        #expect(HTTPListenerTests.sample(metrics, #"notify_deliveries_total{channel="sms",provider="twilio",outcome="throttled"}"#) == 1)
    }
}
