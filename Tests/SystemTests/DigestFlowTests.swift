import Foundation
import StackSupport
import Testing

/// Digests on the wire: sends that ask for one reach the recipient as one email listing them, when the window
/// ends or as soon as it is full; tracking says which digest carried each; a cancelled item is left out.
@Suite("Digests", .needsStack, .serialized)
struct DigestFlowTests {
    static func send(
        _ service: ServiceHarness, key: String, user: String, title: String, body: String = "Details follow",
        digest: [String: Any]
    ) async throws -> ServiceHarness.Reply {
        try await service.call(
            "SendNotification",
            [
                "channels": ["email", "in-app"], "messageCategory": "PRICE_DROP_ALERT", "recipient": ["userId": user],
                "content": ["title": title, "body": body], "digest": digest,
            ], as: .key(key))
    }

    /// The email delivery of `notification` once it has left `batched` (or any status in `until`), with its history.
    static func email(of notification: String, key: String, _ service: ServiceHarness, until: Set<String>) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let reply = try await service.call("GetDeliveryStatus", ["notificationId": notification], as: .key(key))
            let email = (reply.body["deliveries"] as? [[String: Any]] ?? []).first { $0["channel"] as? String == "email" }
            if let email, until.contains(email["status"] as? String ?? "") { return email }
            guard ContinuousClock.now < deadline else { throw SupportFailure("not \(until): \(reply.raw)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test("three sends in a 2 s window are one email listing them; each is tracked as digested in that digest's message; in-app is at once")
    func windowEnds() async throws {
        let service = try await SendTests.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let (user, address) = ("digest-\(service.id)", "digest-\(service.id)@example.com")
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": address], as: .key(shop.productKey)).status == 200)
        var notifications: [String] = []
        for (index, title) in ["Kettle 20% off", "Toaster <now> 15% off", "Mugs & cups 10% off"].enumerated() {
            let reply = try await Self.send(
                service, key: shop.productKey, user: user, title: title, body: "Offer \(index)",
                digest: ["windowSeconds": 2, "maxItems": 10])
            #expect(reply.status == 202, "\(reply.raw)")
            notifications.append(try #require(reply.body["notificationId"] as? String))
        }
        let waiting = try await Self.email(of: notifications[0], key: shop.productKey, service, until: ["batched", "digested"])
        #expect(waiting["status"] as? String == "batched", "nothing leaves before the window ends")
        let inbox = try await service.call("GetUserNotifications", ["userId": user], as: .key(shop.productKey))
        #expect((inbox.body["notifications"] as? [Any])?.count == 3, "in-app is not batched: \(inbox.raw)")

        let mail = try #require(await Maildir.wait(to: address, count: 1).first)
        #expect(mail.header("Subject") == "Kettle 20% off (and 2 more)", "\(mail.text)")
        for title in ["Kettle 20% off", "Toaster &lt;now&gt; 15% off", "Mugs &amp; cups 10% off", "Offer 2"] {
            #expect(mail.text.contains(title), "\(title) in \(mail.text)")
        }
        try await Task.sleep(for: .milliseconds(500))
        #expect(Maildir.messages(to: address).count == 1, "one email for the three")

        var digests: Set<String> = []
        for notification in notifications {
            let member = try await Self.email(of: notification, key: shop.productKey, service, until: ["digested"])
            let details = (member["history"] as? [[String: Any]] ?? []).compactMap { $0["detail"] as? String }
            digests.formUnion(details.filter { $0.hasPrefix("digest ") }.map { String($0.dropFirst("digest ".count)) })
        }
        let digest = try #require(digests.count == 1 ? digests.first : nil, "\(digests)")
        let message = try await service.call("GetMessage", ["messageId": digest], as: .key(shop.productKey))
        #expect(
            message.status == 200 && message.body["status"] as? String == "sent" && message.body["senderId"] as? String == "digest",
            "\(message.raw)")
        let payload = message.body["payload"] as? [String: Any]
        #expect(
            payload?["title"] as? String == "Kettle 20% off (and 2 more)" && payload?["messageCategory"] as? String == "PRICE_DROP_ALERT")
        let other = try await TenantTests.onboard(service, name: "Other")
        let theirs = try await service.call("GetMessage", ["messageId": digest], as: .key(other.productKey))
        #expect(theirs.status == 404, "another tenant does not see it")
    }

    @Test("a digest that reaches maxItems leaves at once; the next item opens another; a cancelled item is left out")
    func fullAndCancelled() async throws {
        let service = try await SendTests.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let (user, address) = ("full-\(service.id)", "full-\(service.id)@example.com")
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": address], as: .key(shop.productKey)).status == 200)
        let started = ContinuousClock.now
        for title in ["First", "Second"] {
            #expect(
                try await Self.send(
                    service, key: shop.productKey, user: user, title: title, digest: ["windowSeconds": 3_600, "maxItems": 2]
                )
                .status == 202)
        }
        let full = try #require(await Maildir.wait(to: address, count: 1).first)
        #expect(ContinuousClock.now - started < .seconds(10), "a full digest does not wait for its hour")
        #expect(full.header("Subject") == "First (and 1 more)")

        // The next two open a new digest with a short window; one is cancelled before it ends.
        let kept = try await Self.send(
            service, key: shop.productKey, user: user, title: "Third", digest: ["windowSeconds": 2, "maxItems": 2 + 1])
        let dropped = try await Self.send(
            service, key: shop.productKey, user: user, title: "Fourth", digest: ["windowSeconds": 2, "maxItems": 3])
        let cancel = try await service.call(
            "CancelRequest", ["requestId": try #require(dropped.body["requestId"] as? String)], as: .key(shop.productKey))
        #expect(cancel.status == 200 && cancel.body["cancelled"] as? Int == 1, "\(cancel.raw)")
        let mails = await Maildir.wait(to: address, count: 2)
        #expect(mails.count == 2)
        let second = try #require(mails.first { $0.header("Subject") != full.header("Subject") })
        #expect(second.header("Subject") == "Third" && !second.text.contains("Fourth"), "one item left: sent as itself\n\(second.text)")
        #expect(
            try await Self.email(
                of: try #require(kept.body["notificationId"] as? String), key: shop.productKey, service,
                until: ["digested"])["status"] as? String == "digested")
        try await Task.sleep(for: .milliseconds(500))
        #expect(Maildir.messages(to: address).count == 2)
    }

    @Test(
        "a digest asked for with scheduledAt, or without a batched channel, or out of range is 400 naming the field; notifyctl send --digest-window"
    )
    func refused() async throws {
        let service = try await SendTests.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let base: [String: Any] = [
            "messageCategory": "PRICE_DROP_ALERT", "recipient": ["userId": "u"], "content": ["title": "t", "body": "b"],
        ]
        for (extra, field) in [
            (["channel": "email", "digest": ["maxItems": 1]], "digest.maxItems"),
            (["channel": "email", "digest": ["windowSeconds": 0]], "digest.windowSeconds"),
            (["channel": "in-app", "digest": [:] as [String: Any]], "digest"),
            (["channel": "email", "digest": [:] as [String: Any], "scheduledAt": "2099-01-01T00:00:00Z"], "digest"),
        ] as [([String: Any], String)] {
            let reply = try await service.call("SendNotification", base.merging(extra) { $1 }, as: .key(shop.productKey))
            #expect(
                reply.status == 400 && ((reply.body["error"] as? [String: Any])?["message"] as? String ?? "").contains("'\(field)"),
                "\(reply.raw)")
        }
        let environment = [
            "NOTIFY_AMQP_URL": service.slot.amqpURL, "NOTIFY_TOPOLOGY_RPC_QUEUE": service.rpcQueue, "NOTIFY_API_KEY": shop.productKey,
        ]
        let arguments = [
            "send", "--channel", "email", "--category", "PRICE_DROP_ALERT", "--email", "ctl-\(service.id)@example.com",
            "--title", "t", "--body", "b",
        ]
        let refusedByCLI = try NotifyctlProcess.run(arguments + ["--digest-max", "1"], environment)
        #expect(refusedByCLI.status != 0 && refusedByCLI.output.contains("digest.maxItems"), "\(refusedByCLI.output)")
        let accepted = try NotifyctlProcess.run(arguments + ["--digest-window", "60", "--json"], environment)
        #expect(accepted.status == 0 && accepted.output.contains("\"batched\""), "\(accepted.output)")
    }

    @Test("40 sends from 8 clients at once, 10 a digest: four emails; items coming while windows end: every item in exactly one email")
    func concurrentItems() async throws {
        let service = try await SendTests.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let (user, address) = ("busy-\(service.id)", "busy-\(service.id)@example.com")
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": address], as: .key(shop.productKey)).status == 200)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<8 {
                group.addTask {
                    for index in 0..<5 {
                        let reply = try await Self.send(
                            service, key: shop.productKey, user: user, title: "Item-\(client)-\(index).",
                            digest: ["windowSeconds": 3_600, "maxItems": 10])
                        #expect(reply.status == 202, "\(reply.raw)")
                    }
                }
            }
            try await group.waitForAll()
        }
        let mails = await Maildir.wait(to: address, count: 4)
        try await Task.sleep(for: .milliseconds(500))
        #expect(Maildir.messages(to: address).count == 4)
        let items = mails.map { mail in
            Set(mail.text.components(separatedBy: "Item-").dropFirst().compactMap { $0.split(separator: ".").first.map(String.init) })
        }
        #expect(items.map(\.count) == [10, 10, 10, 10] && items.reduce(Set<String>()) { $0.union($1) }.count == 40, "\(items)")

        // Items that keep coming while 1 s windows end: each is in the digest that left or the next, never lost or twice.
        let (steady, steadyAddress) = ("steady-\(service.id)", "steady-\(service.id)@example.com")
        #expect(
            try await service.call("UpsertRecipient", ["userId": steady, "email": steadyAddress], as: .key(shop.productKey)).status == 200)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<2 {
                group.addTask {
                    for index in 0..<15 {
                        _ = try await Self.send(
                            service, key: shop.productKey, user: steady, title: "Item-\(client)-\(index).",
                            digest: ["windowSeconds": 1, "maxItems": 100])
                        try await Task.sleep(for: .milliseconds(150))
                    }
                }
            }
            try await group.waitForAll()
        }
        // A digest lists its oldest 20 items and counts the rest ("(and N more)"), so a window a slow machine closes
        // late still accounts for every item: listed once, or counted.
        let deadline = ContinuousClock.now + .seconds(30)
        var steadyItems: [Set<String>] = []
        var unlisted = 0
        while ContinuousClock.now < deadline {
            let mails = Maildir.messages(to: steadyAddress)
            steadyItems = mails.map { mail in
                Set(mail.text.components(separatedBy: "Item-").dropFirst().compactMap { $0.split(separator: ".").first.map(String.init) })
            }
            unlisted = mails.reduce(0) { total, mail in
                // The HTML part's last item, `<li>(and N more)</li>` (the subject says "(and N more)" of all its items).
                total + (mail.text.components(separatedBy: "<li>(and ").dropFirst().first.flatMap { Int($0.prefix { $0.isNumber }) } ?? 0)
            }
            if steadyItems.reduce(0, { $0 + $1.count }) + unlisted >= 30 { break }
            try await Task.sleep(for: .milliseconds(200))
        }
        #expect(steadyItems.count >= 2, "windows ended while items came")
        let listed = steadyItems.reduce(0) { $0 + $1.count }
        #expect(listed + unlisted == 30, "\(steadyItems), \(unlisted) more")
        #expect(steadyItems.reduce(Set<String>()) { $0.union($1) }.count == listed, "no item listed twice: \(steadyItems)")
        #expect(steadyItems.allSatisfy { $0.count <= 20 })
    }

    @Test("a rule's digest: three confirmed payments in the window are one email; the inbox has all three at once")
    func ruleDigest() async throws {
        let rules = try TestRules(digest: #"{"windowSeconds": 2, "maxItems": 20}"#)
        let service = try await ServiceHarness(environment: EmailDeliveryTests.smtpEnvironment.merging(rules.environment) { $1 })
        defer { Task { await service.shutDown() } }
        let (user, address) = ("rule-\(service.id)", "rule-\(service.id)@example.com")
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": address]).status == 200)
        try await service.publish((1...3).map { Payments.confirmed(user: user, index: $0) })
        let mail = try #require(await Maildir.wait(to: address, count: 1).first)
        #expect(mail.header("Subject") == "Payment received (and 2 more)", "\(mail.text)")
        #expect((1...3).allSatisfy { mail.text.contains("order order-\($0)") })
        let inbox = try await service.call("GetUserNotifications", ["userId": user])
        #expect((inbox.body["notifications"] as? [Any])?.count == 3)
        try await Task.sleep(for: .milliseconds(500))
        #expect(Maildir.messages(to: address).count == 1)
    }
}
