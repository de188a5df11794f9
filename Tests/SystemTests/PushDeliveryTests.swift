import Foundation
import Postgres
import StackSupport
import Testing

/// Push through FCM HTTP v1 and APNs (HTTP/2), against the contract fakes, and one event on every channel at once.
@Suite("Push through FCM and APNs; an event on email, SMS and push", .needsStack)
struct PushDeliveryTests {
    static func register(
        _ user: String, tokens: [(String, String)], email: String? = nil, phone: String? = nil,
        _ service: ServiceHarness
    ) async throws {
        let json = "[" + tokens.map { #"{"platform": "\#($0.0)", "token": "\#($0.1)"}"# }.joined(separator: ", ") + "]"
        _ = try await service.db.withConnection { db in
            try db.copy(into: "recipients", columns: ["user_id", "email", "phone", "push_tokens"], rows: [[user, email, phone, json]])
        }
    }

    static func tokens(of user: String, _ service: ServiceHarness) async throws -> [String] {
        try await service.db.withConnection { db in
            try db.query("SELECT t->>'token' FROM recipients, jsonb_array_elements(push_tokens) t WHERE user_id = \(user)")
                .map { try $0.decode(0, as: String.self) }
        }
    }

    @Test("a push goes to each FCM token of the recipient once; an UNREGISTERED token is removed, the APNs one kept")
    func sentAndStaleTokenRemoved() async throws {
        let fcm = try FCMFake()
        let rules = try TestRules(channels: ["in-app", "push"])
        let service = try await ServiceHarness(environment: fcm.environment.merging(rules.environment) { $1 })
        defer { Task { await service.shutDown() } }
        try await Self.register("pushed", tokens: [("fcm", "phone-1"), ("fcm", "stale-tablet"), ("apns", "a1b2c3")], service)
        try await service.publish([Payments.confirmed(user: "pushed", index: 1), Payments.confirmed(user: "pushed", index: 2)])

        for _ in 0..<2 {
            _ = try await EmailDeliveryTests.delivery(of: "pushed", channel: "push", service, until: "sent")
        }
        let deadline = ContinuousClock.now + .seconds(20)
        var sent = 0
        while sent < 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            sent = try await service.db.withConnection { db in
                try db.query("SELECT count(*) FROM deliveries WHERE channel = 'push' AND status = 'sent'")[0].decode(0, as: Int.self)
            }
        }
        #expect(sent == 2)
        let messages = try await fcm.messages()
        #expect(messages.map { $0["token"] as? String } == ["phone-1", "phone-1"], "one push per notification to the live token")
        #expect(Set(messages.compactMap { $0["deliveryId"] as? String }).count == 2)
        #expect(try await Self.tokens(of: "pushed", service).sorted() == ["a1b2c3", "phone-1"])
        #expect(try await fcm.exchanges() == 1, "the access token is cached between batches")
        #expect(!service.daemon.log.contains("BEGIN PRIVATE KEY"))
    }

    @Test("every token unregistered: the push is dead (fcm-UNREGISTERED) after one attempt and the recipient has no tokens left")
    func allTokensStale() async throws {
        let fcm = try FCMFake()
        let rules = try TestRules(channels: ["in-app", "push"])
        let service = try await ServiceHarness(environment: fcm.environment.merging(rules.environment) { $1 })
        defer { Task { await service.shutDown() } }
        try await Self.register("gone", tokens: [("fcm", "stale-1"), ("fcm", "stale-2")], service)
        try await service.publish([Payments.confirmed(user: "gone", index: 1)])

        let delivery = try await EmailDeliveryTests.delivery(of: "gone", channel: "push", service, until: "dead")
        #expect(delivery["attempts"] as? Int == 1)
        #expect((delivery["lastError"] as? [String: Any])?["code"] as? String == "fcm-UNREGISTERED")
        #expect(try await Self.tokens(of: "gone", service).isEmpty)
    }

    @Test("APNs over HTTP/2 and TLS: one push per live token with the delivery's apns-id, one provider token; a 410 token is removed")
    func apns() async throws {
        let apns = try APNsFake()
        let rules = try TestRules(channels: ["in-app", "push"])
        let service = try await ServiceHarness(environment: apns.environment.merging(rules.environment) { $1 })
        defer { Task { await service.shutDown() } }
        let live = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
        try await Self.register("iphone", tokens: [("apns", live), ("apns", "dead0000beef")], service)
        try await service.publish((1...3).map { Payments.confirmed(user: "iphone", index: $0) })

        let deadline = ContinuousClock.now + .seconds(20)
        var sent: [[String: String]] = []
        while sent.count < 3, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            sent = try await service.db.withConnection { db in
                try db.query(
                    "SELECT id::text, notification_id::text, provider_message_id FROM deliveries WHERE channel = 'push' AND status = 'sent'"
                )
                .map {
                    [
                        "id": try $0.decode(0, as: String.self), "notification": try $0.decode(1, as: String.self),
                        "provider": try $0.decode(2, as: String.self),
                    ]
                }
            }
        }
        #expect(sent.count == 3)
        let messages = try await apns.messages()
        #expect(
            messages.count == 3 && messages.allSatisfy { $0["token"] as? String == live }, "one push per notification, to the live token")
        for delivery in sent {
            let message = messages.first { ($0["apnsId"] as? String)?.lowercased() == delivery["id"] }
            #expect(message != nil, "apns-id is the delivery id")
            #expect(message?["collapseId"] as? String == delivery["notification"])
            #expect(message?["deliveryId"] as? String == delivery["id"])
            #expect(delivery["provider"]?.lowercased() == delivery["id"], "APNs echoes the apns-id")
        }
        #expect(messages.allSatisfy { $0["priority"] as? String == "5" && $0["pushType"] as? String == "alert" })
        #expect(try await Self.tokens(of: "iphone", service) == [live], "the Unregistered (410) token is removed")
        #expect(try await apns.stats()["provider_tokens"] as? Int == 1, "one provider token for every request")
        #expect(!service.daemon.log.contains("BEGIN PRIVATE KEY"))
    }

    @Test("a recipient with an iPhone and an Android phone: one push delivery, through APNs and FCM at once")
    func bothPlatforms() async throws {
        let apns = try APNsFake()
        let fcm = try FCMFake()
        let rules = try TestRules(channels: ["in-app", "push"])
        let service = try await ServiceHarness(
            environment: apns.environment.merging(fcm.environment) { $1 }.merging(rules.environment) { $1 })
        defer { Task { await service.shutDown() } }
        try await Self.register("two-phones", tokens: [("apns", "feedface"), ("fcm", "android-1")], service)
        try await service.publish([Payments.confirmed(user: "two-phones", index: 1)])

        let delivery = try await EmailDeliveryTests.delivery(of: "two-phones", channel: "push", service, until: "sent")
        #expect(delivery["attempts"] as? Int == 1)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await apns.messages().map { $0["token"] as? String } == ["feedface"])
        #expect(try await fcm.messages().map { $0["token"] as? String } == ["android-1"])
    }

    @Test("APNs refusing our key: its breaker opens and iPhone pushes are held, while Android pushes of the same batches go out at once")
    func platformsHeldApart() async throws {
        let apns = try APNsFake()
        let fcm = try FCMFake()
        let rules = try TestRules(channels: ["in-app", "push"])
        let service = try await ServiceHarness(
            environment: apns.environment.merging(fcm.environment) { $1 }.merging(rules.environment) { $1 })
        defer { Task { await service.shutDown() } }
        try await apns.server.cue(status: 403, count: 1000, ["reason": "InvalidProviderToken"])
        let users = (0..<10).map { "phone-\($0)" }
        for (index, user) in users.enumerated() {
            try await Self.register(user, tokens: index % 2 == 0 ? [("apns", "abc\(index)")] : [("fcm", "android-\(index)")], service)
        }
        let published = ContinuousClock.now
        try await service.publish(users.enumerated().map { Payments.confirmed(user: $1, index: $0) })

        for (index, user) in users.enumerated() where index % 2 == 1 {
            _ = try await EmailDeliveryTests.delivery(of: user, channel: "push", service, until: "sent", timeout: .seconds(10))
        }
        #expect(ContinuousClock.now - published < .seconds(10), "FCM's pushes are not held behind APNs' open breaker")
        // The iPhone pushes are `sending` from their claim on; held means after APNs refused and its breaker opened.
        #expect(await service.daemon.waitForLog("provider breaker opened", timeout: .seconds(10)))
        for (index, user) in users.enumerated() where index % 2 == 0 {
            let held = try await EmailDeliveryTests.delivery(of: user, channel: "push", service, until: nil)
            #expect(held["status"] as? String == "sending" && held["attempts"] as? Int == 0, "held, no attempt spent: \(held)")
        }
        #expect(try await fcm.messages().count == 5)
        #expect(try await apns.messages().isEmpty)
    }

    @Test(
        "fallback push → SMS: no push token, or every token unregistered, and the notification goes by SMS; a live token, and it does not")
    func fallbackToSMS() async throws {
        let fcm = try FCMFake()
        let twilio = try TwilioFake()
        let rules = try TestRules(channels: ["in-app", "push"], fallback: ["push": "sms"])
        let service = try await ServiceHarness(
            environment: fcm.environment.merging(twilio.environment) { $1 }.merging(rules.environment) { $1 })
        defer { Task { await service.shutDown() } }
        try await Self.register("no-phone-app", tokens: [], phone: "+14155550101", service)
        try await Self.register("stale-app", tokens: [("fcm", "stale-only")], phone: "+14155550102", service)
        try await Self.register("live-app", tokens: [("fcm", "live-1")], phone: "+14155550103", service)
        try await service.publish(["no-phone-app", "stale-app", "live-app"].enumerated().map { Payments.confirmed(user: $1, index: $0) })

        #expect(
            try await EmailDeliveryTests.delivery(of: "no-phone-app", channel: "push", service, until: "skipped")["attempts"] as? Int == 0)
        _ = try await EmailDeliveryTests.delivery(of: "no-phone-app", channel: "sms", service, until: "delivered")
        _ = try await EmailDeliveryTests.delivery(of: "stale-app", channel: "push", service, until: "dead")
        let sms = try await EmailDeliveryTests.delivery(of: "stale-app", channel: "sms", service, until: "delivered")
        #expect((sms["history"] as? [[String: Any]])?.first?["detail"] as? String == "fallback")
        _ = try await EmailDeliveryTests.delivery(of: "live-app", channel: "push", service, until: "sent")
        try await Task.sleep(for: .seconds(1))
        let liveSMS = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM deliveries WHERE user_id = 'live-app' AND channel = 'sms'")[0].decode(0, as: Int.self)
        }
        #expect(liveSMS == 0, "a push that went out has no fallback")
        let texts = try await twilio.messages().compactMap { $0["to"] as? String }.sorted()
        #expect(texts == ["+14155550101", "+14155550102"], "one SMS each for the two without a working token: \(texts)")
    }

    @Test("one event on email, SMS and push for a recipient with all three: three sends, and the SMS receipt makes it delivered")
    func everyChannel() async throws {
        let fcm = try FCMFake()
        let twilio = try TwilioFake()
        let rules = try TestRules(channels: ["in-app", "email", "sms", "push"])
        let service = try await ServiceHarness(
            environment: EmailDeliveryTests.smtpEnvironment.merging(fcm.environment) { $1 }
                .merging(twilio.environment) { $1 }.merging(rules.environment) { $1 })
        defer { Task { await service.shutDown() } }
        let user = "everywhere-\(service.id)"
        try await Self.register(
            user, tokens: [("fcm", "device-\(service.id)")], email: "\(user)@example.com", phone: "+14155550199", service)
        try await service.publish([Payments.confirmed(user: user, index: 1)])

        let email = try await EmailDeliveryTests.delivery(of: user, channel: "email", service, until: "sent")
        let push = try await EmailDeliveryTests.delivery(of: user, channel: "push", service, until: "sent")
        let sms = try await EmailDeliveryTests.delivery(of: user, channel: "sms", service, until: "delivered")
        #expect(email["attempts"] as? Int == 1 && push["attempts"] as? Int == 1 && sms["attempts"] as? Int == 1)
        #expect(Maildir.messages(to: "\(user)@example.com").count == 1)
        #expect(try await fcm.messages().count == 1)
        #expect(try await twilio.messages().count == 1)
    }
}
