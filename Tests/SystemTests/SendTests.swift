import Foundation
import NotifyCore
import StackSupport
import Testing

/// `SendNotification` over RPC as a product's client sees it: the replies, what reaches the SMTP server and Twilio's
/// fake, what tracking and the audit trail say, and that one tenant's recipients and sends are not another's.
@Suite("The send API over RPC: 202, 208, 409, 400, 401, 403; tenants' directories", .needsStack, .serialized)
struct SendTests {
    static func service(_ twilio: TwilioFake? = nil) async throws -> ServiceHarness {
        try await ServiceHarness(environment: EmailDeliveryTests.smtpEnvironment.merging(twilio?.environment ?? [:]) { $1 })
    }

    static func send(
        _ service: ServiceHarness, key: String, channels: [String], category: String = "OTP",
        recipient: [String: Any], title: String = "Your code", body: String = "123456 is your code",
        idempotencyKey: String? = nil
    ) async throws -> ServiceHarness.Reply {
        var request: [String: Any] = [
            "channels": channels, "message_category": category, "recipient": recipient,
            "content": ["title": title, "body": body],
        ]
        if let idempotencyKey { request["idempotency_key"] = idempotencyKey }
        return try await service.call("SendNotification", request, as: .key(key))
    }

    /// The deliveries of `notification` as `key` sees them, once every one has left `queued` and `sending`.
    static func settled(_ notification: String, key: String, _ service: ServiceHarness) async throws -> [[String: Any]] {
        let deadline = ContinuousClock.now + .seconds(30)
        while true {
            let reply = try await service.call("GetDeliveryStatus", ["notificationId": notification], as: .key(key))
            let deliveries = reply.body["deliveries"] as? [[String: Any]] ?? []
            if !deliveries.isEmpty, deliveries.allSatisfy({ !["queued", "sending"].contains($0["status"] as? String) }) {
                return deliveries
            }
            guard ContinuousClock.now < deadline else {
                throw SupportFailure("not settled: \(reply.raw)\n\(service.daemon.log.suffix(2000))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test("a send by email and SMS to direct addresses: 202 with a request id, one email and one SMS, tracked and audited")
    func emailAndSMS() async throws {
        let twilio = try TwilioFake()
        let service = try await Self.service(twilio)
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let address = "send-\(service.id)@example.com"
        let reply = try await Self.send(
            service, key: shop.productKey, channels: ["email", "sms"],
            recipient: ["email": address, "phone": "+14155550111"])
        #expect(reply.status == 202)
        let requestID = try #require(reply.body["requestId"] as? String)
        let notification = try #require(reply.body["notificationId"] as? String)
        #expect(UUID(uuidString: requestID) != nil)
        #expect((reply.body["deliveries"] as? [[String: Any]])?.compactMap { $0["channel"] as? String }.sorted() == ["email", "sms"])

        let deliveries = try await Self.settled(notification, key: shop.productKey, service)
        #expect(deliveries.allSatisfy { $0["status"] as? String == "sent" || $0["status"] as? String == "delivered" }, "\(deliveries)")
        let mails = await Maildir.wait(to: address, count: 1)
        #expect(mails.count == 1)
        let email = try #require(deliveries.first { $0["channel"] as? String == "email" })
        #expect(mails.first?.header("Message-ID") == "<\(email["deliveryId"] as? String ?? "")@flowmart.example>")
        #expect(mails.first?.header("Subject") == "Your code")
        let sms = try await twilio.messages()
        #expect(sms.count == 1 && sms.first?["to"] as? String == "+14155550111" && sms.first?["body"] as? String == "123456 is your code")

        // Only the product (or the admin) sees it; the lane is the category's.
        let other = try await TenantTests.onboard(service, name: "Other")
        #expect(try await service.call("GetDeliveryStatus", ["notificationId": notification], as: .key(other.productKey)).status == 404)
        #expect(try await service.call("GetDeliveryStatus", ["notificationId": notification]).status == 200)
        let lane = try await service.db.withConnection { db in
            try db.query("SELECT priority, request_id::text, product_id::text FROM notifications WHERE id = \(notification)::uuid")
                .map { [try $0.decode(0, as: String.self), try $0.decode(1, as: String.self), try $0.decode(2, as: String.self)] }
        }
        #expect(lane == [["high", requestID, shop.productID]])
        let audit = try await service.call("ListAuditEvents", ["limit": 100], as: .key(shop.productKey))
        let accepted = (audit.body["events"] as? [[String: Any]] ?? []).filter { $0["action"] as? String == "send.accepted" }
        #expect(accepted.count == 1 && accepted.first?["requestId"] as? String == requestID)
    }

    @Test("idempotency: the same key and request again is 208 with the first request id, another request 409; one email in all")
    func idempotency() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let address = "once-\(service.id)@example.com"
        let first = try await Self.send(
            service, key: shop.productKey, channels: ["email"], recipient: ["email": address],
            idempotencyKey: "order-1")
        #expect(first.status == 202)
        let again = try await Self.send(
            service, key: shop.productKey, channels: ["email"], recipient: ["email": address],
            idempotencyKey: "order-1")
        #expect(again.status == 208 && again.body["requestId"] as? String == first.body["requestId"] as? String)
        let changed = try await Self.send(
            service, key: shop.productKey, channels: ["email"], recipient: ["email": address],
            body: "654321 is your code", idempotencyKey: "order-1")
        #expect(changed.status == 409 && TenantTests.code(changed) == "idempotency-conflict")
        // The same key from another product is its own.
        let other = try await TenantTests.onboard(service, name: "Other")
        #expect(
            try await Self.send(
                service, key: other.productKey, channels: ["email"], recipient: ["email": address],
                idempotencyKey: "order-1"
            ).status == 202)

        _ = try await Self.settled(try #require(first.body["notificationId"] as? String), key: shop.productKey, service)
        try await Task.sleep(for: .seconds(1))
        #expect(Maildir.messages(to: address).count == 2, "one email per product, none for the repeats")
        let requests = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM notifications WHERE request_id IS NOT NULL").first?.decode(0, as: Int.self)
        }
        #expect(requests == 2)
    }

    @Test("refusals: 401 without a key, 403 for the admin and service keys, 400 naming the field or the category; audited")
    func refusals() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let request: [String: Any] = [
            "channel": "email", "messageCategory": "OTP", "recipient": ["email": "r@example.com"], "content": ["title": "t", "body": "b"],
        ]
        #expect(try await service.call("SendNotification", request, as: .none).status == 401)
        #expect(try await service.call("SendNotification", request, as: .admin).status == 403)
        let serviceKey = try await service.call("CreateServiceKey", ["name": "orders", "scopes": ["inbox-read", "track"]])
        let serviceSecret = try #require(serviceKey.body["apiKey"] as? String)
        #expect(try await service.call("SendNotification", request, as: .key(serviceSecret)).status == 403)

        var unknown = request
        unknown["messageCategory"] = "DOORBELL"
        let category = try await service.call("SendNotification", unknown, as: .key(shop.productKey))
        #expect(category.status == 400 && "\(category.raw)".contains("messageCategory"))
        var scheduled = request
        scheduled["scheduled_at"] = "next week"
        let later = try await service.call("SendNotification", scheduled, as: .key(shop.productKey))
        #expect(later.status == 400 && "\(later.raw)".contains("scheduled_at"))

        #expect(try await service.call("UpdateProduct", ["id": shop.productID, "active": false]).status == 200)
        #expect(try await service.call("SendNotification", request, as: .key(shop.productKey)).status == 403)
        // Counted per caller and kind: the product key's two 400s are one row of two.
        let (shopKey, serviceKeyID) = (String(shop.productKey.dropFirst(4).prefix(16)), String(serviceSecret.dropFirst(4).prefix(16)))
        #expect(
            try await service.refusals(atLeast: 6) == [
                "SendNotification refused:401 anonymous": 1, "SendNotification refused:403 admin": 1,
                "SendNotification refused:403 key:\(serviceKeyID)": 1, "SendNotification refused:400 key:\(shopKey)": 2,
                "SendNotification refused:403 key:\(shopKey)": 1,
            ])
        #expect(
            try await service.db.withConnection { db in try db.query("SELECT count(*) FROM notifications").first?.decode(0, as: Int.self) }
                == 0)
    }

    @Test("directories: a product's u-1, another product's u-1 and FlowMart's u-1 are three people; tenants' sends are not in the inbox")
    func directories() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let (shop, other) = (try await TenantTests.onboard(service), try await TenantTests.onboard(service, name: "Other"))
        let user = "u-\(service.id)"
        let addresses = [
            "shop": "shop-\(service.id)@example.com", "other": "other-\(service.id)@example.com",
            "flowmart": "flowmart-\(service.id)@example.com",
        ]
        #expect(
            try await service.call("UpsertRecipient", ["userId": user, "email": addresses["shop"]!], as: .key(shop.productKey)).status
                == 200)
        #expect(
            try await service.call("UpsertRecipient", ["userId": user, "email": addresses["other"]!], as: .key(other.productKey)).status
                == 200)
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": addresses["flowmart"]!]).status == 200)
        let read = try await service.call("GetRecipient", ["userId": user], as: .key(other.organizations[0].key))
        #expect(read.status == 404, "an organisation has a directory of its own")
        #expect(
            try await service.call("GetRecipient", ["userId": user], as: .key(other.productKey)).body["email"] as? String
                == addresses["other"])

        let sent = try await Self.send(
            service, key: shop.productKey, channels: ["email"], category: "ORDER_CONFIRMATION",
            recipient: ["userId": user], title: "Order 1")
        #expect(sent.status == 202)
        let deliveries = try await Self.settled(try #require(sent.body["notificationId"] as? String), key: shop.productKey, service)
        #expect(deliveries.first?["status"] as? String == "sent")
        #expect(await Maildir.wait(to: addresses["shop"]!, count: 1).count == 1)
        #expect(Maildir.messages(to: addresses["other"]!).isEmpty && Maildir.messages(to: addresses["flowmart"]!).isEmpty)

        let inbox = try await service.call("GetUserNotifications", ["userId": user])
        #expect((inbox.body["notifications"] as? [[String: Any]])?.isEmpty == true, "FlowMart's inbox holds FlowMart's notifications only")
        let listed = try await service.call("ListDeliveries", ["userId": user], as: .key(other.productKey))
        #expect((listed.body["deliveries"] as? [[String: Any]])?.isEmpty == true)
        let lane = try await service.db.withConnection { db in
            try db.query("SELECT priority FROM notifications").map { try $0.decode(0, as: String.self) }
        }
        #expect(lane == ["normal"])
    }

    @Test(
        "tracking: ListMessages and GetMessage as the seed has them; a product sees its own, an organisation only its own, never another tenant's"
    )
    func tracking() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let (shop, other) = (try await TenantTests.onboard(service), try await TenantTests.onboard(service, name: "Other"))
        // Three sends by the product, one by its first organisation, one by the other product.
        var notifications: [String] = []
        for (index, key) in [shop.productKey, shop.productKey, shop.productKey, shop.organizations[0].key, other.productKey].enumerated() {
            let reply = try await Self.send(
                service, key: key, channels: ["email"], category: "ORDER_CONFIRMATION",
                recipient: ["userId": "u-\(index % 2)", "email": "track-\(index)-\(service.id)@example.com"],
                title: "Order \(index)")
            #expect(reply.status == 202)
            notifications.append(try #require(reply.body["notificationId"] as? String))
        }
        for notification in notifications.prefix(3) { _ = try await Self.settled(notification, key: shop.productKey, service) }

        let all = try await service.call("ListMessages", ["page": 1, "limit": 2], as: .key(shop.productKey))
        #expect(all.status == 200)
        #expect(all.body["totalItems"] as? Int == 4 && all.body["totalPages"] as? Int == 2)
        #expect(all.body["currentPage"] as? Int == 1 && all.body["pageSize"] as? Int == 2)
        let page = try #require(all.body["messages"] as? [[String: Any]])
        #expect(page.first?["organizationId"] as? String == shop.organizations[0].id, "newest first: the organisation's send")
        let first = try #require(page.last)
        #expect(first["productId"] as? String == shop.productID && first["channel"] as? String == "email")
        #expect(first["organizationId"] is NSNull && (first["payload"] as? [String: Any])?["title"] as? String == "Order 2")
        #expect((first["payload"] as? [String: Any])?["messageCategory"] as? String == "ORDER_CONFIRMATION")
        let last = try await service.call("ListMessages", ["page": 3, "limit": 2], as: .key(shop.productKey))
        #expect((last.body["messages"] as? [[String: Any]])?.isEmpty == true && last.body["totalItems"] as? Int == 4)

        let byReceiver = try await service.call("ListMessages", ["receiver_id": "u-0", "status": "sent"], as: .key(shop.productKey))
        let sentToU0 = (byReceiver.body["messages"] as? [[String: Any]] ?? []).compactMap { $0["payload"] as? [String: Any] }
        #expect(sentToU0.compactMap { $0["title"] as? String }.sorted() == ["Order 0", "Order 2"], "\(byReceiver.raw)")

        let mine = try await service.call("ListMessages", [:], as: .key(shop.organizations[0].key))
        let organizationMessages = mine.body["messages"] as? [[String: Any]] ?? []
        #expect(organizationMessages.count == 1 && organizationMessages.first?["organizationId"] as? String == shop.organizations[0].id)
        #expect(try await service.call("ListMessages", [:], as: .key(shop.organizations[1].key)).body["totalItems"] as? Int == 0)
        let theirs = try await service.call("ListMessages", ["productId": shop.productID], as: .key(other.productKey))
        #expect(theirs.body["totalItems"] as? Int == 0, "a product id in the query never widens what a key sees")
        #expect(all.body["totalItemsExact"] as? Bool == true)

        // The total is counted ten pages past the one asked for, no further: twelve in-app messages in pages of one.
        let many = try await service.call(
            "SendBatch",
            [
                "channel": "in-app", "message_category": "NEWSLETTER", "recipients": (0..<12).map { ["userId": "many-\($0)"] },
                "content": ["title": "News", "body": "b"],
            ], as: .key(other.productKey))
        #expect(many.status == 202, "\(many.raw)")
        let counted = try await service.call("ListMessages", ["limit": 1], as: .key(other.productKey))
        #expect(counted.body["totalItems"] as? Int == 11 && counted.body["totalItemsExact"] as? Bool == false, "\(counted.raw)")
        let deeper = try await service.call("ListMessages", ["limit": 1, "page": 4], as: .key(other.productKey))
        #expect(deeper.body["totalItems"] as? Int == 13 && deeper.body["totalItemsExact"] as? Bool == true, "\(deeper.raw)")

        let id = try #require(first["messageId"] as? String)
        let message = try await service.call("GetMessage", ["message_id": id], as: .key(shop.productKey))
        #expect(message.status == 200 && message.body["messageId"] as? String == id)
        #expect(message.body["senderId"] as? String == "key:" + String(shop.productKey.dropFirst(4).prefix(16)), "\(message.raw)")
        #expect(try await service.call("GetMessage", ["messageId": id], as: .key(other.productKey)).status == 404)
        #expect(try await service.call("GetMessage", ["messageId": id], as: .key(shop.organizations[1].key)).status == 404)
        #expect(try await service.call("GetMessage", ["messageId": id]).status == 200, "the admin sees every tenant's")
        #expect(try await service.call("ListMessages", ["limit": 101], as: .key(shop.productKey)).status == 400)
    }

    @Test("SendBatch: one request id, one notification and one email per recipient; a 40 KiB batch is read; 1,001 recipients are 400")
    func batch() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let known = "known-\(service.id)"
        #expect(
            try await service.call("UpsertRecipient", ["userId": known, "email": "\(known)@example.com"], as: .key(shop.productKey)).status
                == 200)
        let recipients: [[String: Any]] = [
            ["userId": known], ["email": "batch-a-\(service.id)@example.com"], ["email": "batch-b-\(service.id)@example.com"],
        ]
        let reply = try await service.call(
            "SendBatch",
            [
                "channel": "email", "message_category": "NEWSLETTER", "recipients": recipients,
                "content": ["title": "December news", "body": "What is new"],
            ], as: .key(shop.productKey))
        #expect(reply.status == 202, "\(reply.raw)")
        let requestID = try #require(reply.body["requestId"] as? String)
        let listed = try #require(reply.body["recipients"] as? [[String: Any]])
        #expect(listed.count == 3 && listed.first?["userId"] as? String == known && reply.body["queued"] as? Int == 3)
        #expect(reply.body["accepted"] as? Int == 3, "the contract's count of recipients accepted")
        for notification in listed.compactMap({ $0["notificationId"] as? String }) {
            #expect(try await Self.settled(notification, key: shop.productKey, service).first?["status"] as? String == "sent")
        }
        for address in ["\(known)@example.com", "batch-a-\(service.id)@example.com", "batch-b-\(service.id)@example.com"] {
            let mails = await Maildir.wait(to: address, count: 1)
            #expect(mails.count == 1 && mails.first?.header("Subject") == "December news")
        }
        let messages = try await service.call("ListMessages", [:], as: .key(shop.productKey))
        let requests = Set((messages.body["messages"] as? [[String: Any]] ?? []).compactMap { $0["requestId"] as? String })
        #expect(messages.body["totalItems"] as? Int == 3 && requests == [requestID])
        let lanes = try await service.db.withConnection { db in
            try db.query("SELECT DISTINCT priority FROM notifications WHERE request_id = \(requestID)::uuid").map {
                try $0.decode(0, as: String.self)
            }
        }
        #expect(lanes == ["low"])

        // Past 16 KiB (the ordinary request's limit), within the batch's: read and queued, every address in the directory.
        let large = (0..<400).map { ["email": "bulk-\($0)-\(service.id)@example.com"] }
        let bulk = try await service.call(
            "SendBatch",
            [
                "channel": "email", "messageCategory": "NEWSLETTER", "recipients": large, "content": ["title": "t", "body": "b"],
            ], as: .key(shop.productKey))
        #expect(bulk.status == 202 && (bulk.body["recipients"] as? [Any])?.count == 400, "\(String("\(bulk.raw)".prefix(300)))")
        let stored = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM recipients WHERE email LIKE \("bulk-%-\(service.id)@example.com")")[0].decode(
                0, as: Int.self)
        }
        #expect(stored == 400)
        let tooMany = (0..<1_001).map { ["userId": "u-\($0)"] }
        let refused = try await service.call(
            "SendBatch",
            [
                "channel": "email", "messageCategory": "NEWSLETTER", "recipients": tooMany, "content": ["title": "t", "body": "b"],
            ], as: .key(shop.productKey))
        #expect(refused.status == 400 && "\(refused.raw)".contains("more than 1000"))
    }

    @Test("CancelRequest: what has not left is cancelled and never sent, what left is counted; another tenant gets 404")
    func cancel() async throws {
        // Two emails a second: most of the batch waits for its slot when the cancel comes.
        let service = try await ServiceHarness(
            environment: EmailDeliveryTests.smtpEnvironment.merging([
                "NOTIFY_EMAIL_RATE_PER_SECOND": "2", "NOTIFY_EMAIL_RATE_BURST": "1",
            ]) { $1 })
        defer { Task { await service.shutDown() } }
        let (shop, other) = (try await TenantTests.onboard(service), try await TenantTests.onboard(service, name: "Other"))
        let prefix = "cancel-\(service.id)-"
        let reply = try await service.call(
            "SendBatch",
            [
                "channel": "email", "messageCategory": "PROMOTIONAL_OFFER",
                "recipients": (0..<20).map { ["email": "\(prefix)\($0)@example.com"] },
                "content": ["title": "Sale", "body": "Everything must go"],
            ], as: .key(shop.productKey))
        #expect(reply.status == 202)
        let requestID = try #require(reply.body["requestId"] as? String)
        _ = try await PacingTests.waitForArrivals(1, prefix: prefix)

        // At once (two emails a second leave meanwhile); the other tenants' refusals after it.
        let cancel = try await service.call("CancelRequest", ["request_id": requestID], as: .key(shop.productKey))
        #expect(cancel.status == 200, "\(cancel.raw)")
        #expect(try await service.call("CancelRequest", ["requestId": requestID], as: .key(other.productKey)).status == 404)
        #expect(try await service.call("CancelRequest", ["requestId": requestID], as: .key(shop.organizations[0].key)).status == 404)
        let (cancelled, inFlight, finished) = (
            cancel.body["cancelled"] as? Int ?? -1, cancel.body["inFlight"] as? Int ?? -1,
            cancel.body["finished"] as? Int ?? -1
        )
        #expect(cancelled >= 0 && inFlight >= 0 && finished >= 0 && cancelled + inFlight + finished == 20, "\(cancel.raw)")

        // Claimed deliveries still waiting for their slot are cancelled when it comes; nothing cancelled goes out.
        func count(_ status: String) async throws -> Int {
            try await service.call("ListMessages", ["status": status], as: .key(shop.productKey)).body["totalItems"] as? Int ?? -1
        }
        let deadline = ContinuousClock.now + .seconds(30)
        while try await count("sending") + count("queued") > 0, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
        }
        let (sent, stopped) = (try await count("sent"), try await count("cancelled"))
        // At two a second, a cancel that comes within a few seconds stops at least a quarter (a slow machine's
        // seconds let more leave first; what matters is that nothing cancelled does).
        #expect(sent + stopped == 20 && stopped >= 5, "sent \(sent), cancelled \(stopped)")
        try await Task.sleep(for: .seconds(1))
        #expect(PacingTests.receiveTimes(prefix: prefix).count == sent, "exactly the sent ones arrived")
        let again = try await service.call("CancelRequest", ["requestId": requestID], as: .key(shop.productKey))
        #expect(again.body["cancelled"] as? Int == 0 && again.body["finished"] as? Int == sent, "\(again.raw)")
        let audit = try await service.call("ListAuditEvents", ["limit": 100], as: .key(shop.productKey))
        #expect((audit.body["events"] as? [[String: Any]] ?? []).filter { $0["action"] as? String == "send.cancelled" }.count == 2)
    }

    @Test(
        "quotas: a tenant over its quota gets 429 with Retry-After and nothing is written; a repeat (208) costs nothing; other tenants go on; organisations count against their product; the admin sets a product's own, a product its organisations'"
    )
    func quota() async throws {
        // One notification a second, a burst of one full batch.
        let service = try await ServiceHarness(
            environment: EmailDeliveryTests.smtpEnvironment.merging([
                "NOTIFY_SEND_QUOTA_PER_SECOND": "1", "NOTIFY_SEND_QUOTA_BURST": "1000",
            ]) { $1 })
        defer { Task { await service.shutDown() } }
        let (shop, other) = (try await TenantTests.onboard(service), try await TenantTests.onboard(service, name: "Other"))
        let first = try await Self.send(
            service, key: shop.productKey, channels: ["email"], recipient: ["userId": "u-0"], idempotencyKey: "k-0")
        #expect(first.status == 202)
        let batch = try await service.call(
            "SendBatch",
            [
                "channel": "email", "messageCategory": "NEWSLETTER", "recipients": (1..<1_000).map { ["userId": "u-\($0)"] },
                "content": ["title": "t", "body": "b"],
            ], as: .key(shop.productKey))
        #expect(batch.status == 202, "the burst holds one full batch")

        let over = try await Self.send(service, key: shop.productKey, channels: ["email"], recipient: ["userId": "u-1"])
        #expect(over.status == 429 && TenantTests.code(over) == "over-quota")
        let retryAfter = over.headers["retry-after"]?.integer ?? 0
        #expect(retryAfter >= 1 && retryAfter <= 2, "one slot a second: \(over.headers)")
        #expect((over.body["error"] as? [String: Any])?["retryAfterSeconds"] as? Int == retryAfter)
        #expect(
            try await Self.send(
                service, key: shop.productKey, channels: ["email"], recipient: ["userId": "u-0"],
                idempotencyKey: "k-0"
            ).status == 208, "a repeat is answered even over the quota")
        #expect(try await Self.send(service, key: other.productKey, channels: ["email"], recipient: ["userId": "u-1"]).status == 202)
        #expect(
            try await Self.send(service, key: shop.organizations[0].key, channels: ["email"], recipient: ["userId": "u-1"]).status == 429,
            "an organisation's sends count against its product's quota too")

        try await Task.sleep(for: .seconds(Double(retryAfter)))
        #expect(
            try await Self.send(service, key: shop.productKey, channels: ["email"], recipient: ["userId": "u-1"]).status == 202,
            "after Retry-After the same request is taken")
        let written = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM send_requests WHERE product_id = \(shop.productID)::uuid")[0].decode(0, as: Int.self)
        }
        #expect(written == 3, "first, batch and the one after the wait; not the refused ones")

        // The admin gives the product a quota of its own (at once: its schedule starts afresh), and one organisation a
        // small one; the product's still caps what its organisations send together.
        let raise = try await service.call("UpdateProduct", ["id": shop.productID, "quota": ["perSecond": 1, "burst": 1_500]])
        #expect(raise.status == 200 && (raise.body["quota"] as? [String: Any])?["burst"] as? Int == 1_500, "\(raise.raw)")
        #expect(
            try await service.call("UpdateProduct", ["id": shop.productID, "quota": ["perSecond": 5]], as: .key(shop.productKey)).status
                == 403,
            "a product cannot raise its own quota")
        let organization = shop.organizations[0]
        let small = try await service.call(
            "UpdateOrganization", ["id": organization.id, "quota": ["perSecond": 1, "burst": 1_000]],
            as: .key(shop.productKey))
        #expect(
            small.status == 200 && (small.body["quota"] as? [String: Any])?["burst"] as? Int == 1_000,
            "a product divides its quota: \(small.raw)")
        #expect(
            try await service.call("UpdateOrganization", ["id": organization.id, "quota": NSNull()], as: .key(organization.key)).status
                == 403)
        #expect(try await service.call("UpdateProduct", ["id": shop.productID, "quota": ["perSecond": 0]]).status == 400)
        #expect(try await Self.send(service, key: shop.productKey, channels: ["email"], recipient: ["userId": "u-2"]).status == 202)
        let organizationBatch = try await service.call(
            "SendBatch",
            [
                "channel": "email", "messageCategory": "NEWSLETTER", "recipients": (0..<1_000).map { ["userId": "o-\($0)"] },
                "content": ["title": "t", "body": "b"],
            ], as: .key(organization.key))
        #expect(organizationBatch.status == 202, "its own burst")
        #expect(
            try await Self.send(service, key: organization.key, channels: ["email"], recipient: ["userId": "o-1"]).status == 429,
            "then its own quota")
        let otherBatch = try await service.call(
            "SendBatch",
            [
                "channel": "email", "messageCategory": "NEWSLETTER", "recipients": (0..<600).map { ["userId": "g-\($0)"] },
                "content": ["title": "t", "body": "b"],
            ], as: .key(shop.organizations[1].key))
        #expect(otherBatch.status == 429, "1,001 of the product's 1,500 are spent: the other organisation's 600 do not fit")
        #expect(
            try await Self.send(service, key: shop.organizations[1].key, channels: ["email"], recipient: ["userId": "g-1"]).status == 202)
        let product = try await service.call("GetProduct", ["productId": shop.productID])
        let quotas = Dictionary(
            (product.body["organizations"] as? [[String: Any]] ?? []).map { ($0["id"] as? String ?? "", !($0["quota"] is NSNull)) }
        ) { a, _ in a }
        #expect(
            (product.body["quota"] as? [String: Any])?["perSecond"] as? Int == 1
                && quotas == [organization.id: true, shop.organizations[1].id: false],
            "\(product.raw)")
        let reset = try await service.call("UpdateProduct", ["id": shop.productID, "quota": NSNull()])
        #expect(reset.status == 200 && reset.body["quota"] is NSNull)
        let audit = try await service.call("ListAuditEvents", ["limit": 100], as: .key(shop.productKey))
        let changes = (audit.body["events"] as? [[String: Any]] ?? []).filter { ($0["action"] as? String ?? "").hasSuffix("quota-changed") }
        #expect(changes.count == 3 && changes.contains { $0["detail"] as? String == "1/s, burst 1500" }, "\(changes)")
    }

    @Test("retryEnabled false: a send the SMTP server defers once is dead after that one attempt; the same send with retries arrives")
    func withoutRetries() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        // The test SMTP server answers 451 to a `tempfail1` address the first time, then accepts it.
        let (once, retried) = ("tempfail1-once-\(service.id)@example.com", "tempfail1-retried-\(service.id)@example.com")
        let single = try await service.call(
            "SendNotification",
            [
                "channel": "email", "messageCategory": "OTP", "recipient": ["email": once], "content": ["title": "Code", "body": "1"],
                "retryEnabled": false,
            ], as: .key(shop.productKey))
        let ordinary = try await Self.send(service, key: shop.productKey, channels: ["email"], recipient: ["email": retried])
        #expect(single.status == 202 && ordinary.status == 202)

        let dead = try await Self.settled(try #require(single.body["notificationId"] as? String), key: shop.productKey, service)
        #expect(dead.first?["status"] as? String == "dead" && dead.first?["attempts"] as? Int == 1, "\(dead)")
        // Its first attempt fails the same way; it waits in the 2 s tier and goes out on the second.
        let notification = try #require(ordinary.body["notificationId"] as? String)
        var sent = try await Self.settled(notification, key: shop.productKey, service)
        let deadline = ContinuousClock.now + .seconds(30)
        while sent.first?["status"] as? String == "failed", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            sent = try await Self.settled(notification, key: shop.productKey, service)
        }
        #expect(sent.first?["status"] as? String == "sent" && sent.first?["attempts"] as? Int == 2, "\(sent)")
        #expect(Maildir.messages(to: once).isEmpty)
        #expect(await Maildir.wait(to: retried, count: 1).count == 1)
    }

    @Test("scheduledAt: the delivery waits as scheduled and is sent once, at its time; a cancelled one never; 31 days ahead is 400")
    func scheduled() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let due = Date().addingTimeInterval(3)
        let (kept, dropped) = ("scheduled-\(service.id)@example.com", "cancelled-\(service.id)@example.com")
        func schedule(_ address: String, at time: Date) async throws -> ServiceHarness.Reply {
            try await service.call(
                "SendNotification",
                [
                    "channel": "email", "messageCategory": "APPOINTMENT_REMINDER", "recipient": ["email": address],
                    "content": ["title": "Tomorrow at 9", "body": "See you"], "scheduledAt": RFC3339.string(from: time),
                ], as: .key(shop.productKey))
        }
        let reply = try await schedule(kept, at: due)
        #expect(reply.status == 202)
        #expect((reply.body["deliveries"] as? [[String: Any]])?.first?["status"] as? String == "scheduled", "\(reply.raw)")
        let cancelled = try await schedule(dropped, at: due)
        #expect(
            try await service.call(
                "CancelRequest", ["requestId": cancelled.body["requestId"] as? String ?? ""],
                as: .key(shop.productKey)
            ).body["cancelled"] as? Int == 1)
        #expect(try await schedule(kept, at: Date().addingTimeInterval(31 * 86_400)).status == 400)

        let notification = try #require(reply.body["notificationId"] as? String)
        try await Task.sleep(for: .seconds(1))
        let waiting = try await service.call("GetDeliveryStatus", ["notificationId": notification], as: .key(shop.productKey))
        #expect((waiting.body["deliveries"] as? [[String: Any]])?.first?["status"] as? String == "scheduled")
        #expect(Maildir.messages(to: kept).isEmpty, "nothing leaves before its time")

        let mails = await Maildir.wait(to: kept, count: 1)
        #expect(mails.count == 1 && Date() >= due, "sent at its time")
        let delivered = try await Self.settled(notification, key: shop.productKey, service)
        let history = (delivered.first?["history"] as? [[String: Any]] ?? []).compactMap { $0["status"] as? String }
        #expect(Array(history.prefix(3)) == ["scheduled", "queued", "sending"], "\(history)")
        try await Task.sleep(for: .seconds(2))
        #expect(Maildir.messages(to: kept).count == 1 && Maildir.messages(to: dropped).isEmpty, "once, and never the cancelled one")
        let held = try await service.db.withConnection { try $0.query("SELECT count(*) FROM scheduled_jobs")[0].decode(0, as: Int.self) }
        #expect(held == 0, "the released job and the cancelled one's are gone")
    }

    @Test("in-app: a tenant's users read what it sent in-app with its key; another tenant, an organisation and FlowMart's inbox do not")
    func inApp() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let (shop, other) = (try await TenantTests.onboard(service), try await TenantTests.onboard(service, name: "Other"))
        let address = "inbox-\(service.id)@example.com"
        let reply = try await Self.send(
            service, key: shop.productKey, channels: ["in-app", "email"], recipient: ["userId": "u-1", "email": address])
        #expect(reply.status == 202)
        let notification = try #require(reply.body["notificationId"] as? String)
        let channels = (reply.body["deliveries"] as? [[String: Any]] ?? []).map { "\($0["channel"] ?? "")=\($0["status"] ?? "")" }
        #expect(channels == ["in-app=delivered", "email=queued"], "\(reply.raw)")
        _ = try await Self.send(service, key: shop.productKey, channels: ["email"], recipient: ["userId": "u-1"])

        let inbox = try await service.call("GetUserNotifications", ["userId": "u-1"], as: .key(shop.productKey))
        #expect(
            inbox.status == 200 && inbox.headers["x-total-count"]?.integer == 1 && inbox.headers["x-unread-count"]?.integer == 1,
            "only what was sent in-app: \(inbox.raw)")
        #expect((inbox.body["notifications"] as? [[String: Any]])?.first?["notificationId"] as? String == notification, "\(inbox.raw)")
        for outsider: ServiceHarness.Credential in [.key(other.productKey), .key(shop.organizations[0].key), .admin] {
            let seen = try await service.call("GetUserNotifications", ["userId": "u-1"], as: outsider)
            #expect(seen.headers["x-total-count"]?.integer == 0, "\(outsider): \(seen.raw)")
            #expect(try await service.call("GetNotificationDetails", ["notificationId": notification], as: outsider).status == 404)
            #expect(
                try await service.call("MarkNotificationRead", ["notificationId": notification, "userId": "u-1"], as: outsider).status
                    == 404)
        }
        #expect(try await service.call("GetNotificationDetails", ["notificationId": notification], as: .key(shop.productKey)).status == 200)
        #expect(
            try await service.call(
                "MarkNotificationRead", ["notificationId": notification, "userId": "u-1"],
                as: .key(shop.productKey)
            ).status == 200)
        let read = try await service.call("GetUserNotifications", ["userId": "u-1", "status": "unread"], as: .key(shop.productKey))
        #expect(read.headers["x-unread-count"]?.integer == 0)
        #expect(
            try await service.call("WatchProduct", ["userId": "u-1", "productId": "p-1"], as: .key(shop.productKey)).status == 403,
            "back-in-stock wishes are FlowMart's")
        #expect(try await service.call("GetStockLevels", [:], as: .key(shop.productKey)).status == 403, "and so is its stock")

        // Tracking: the in-app copy is a message of its own (its id the notification's), delivered when stored.
        let listed = try await service.call("ListMessages", ["receiverId": "u-1", "status": "delivered"], as: .key(shop.productKey))
        let inAppMessages = (listed.body["messages"] as? [[String: Any]] ?? []).filter { $0["channel"] as? String == "in-app" }
        #expect(inAppMessages.count == 1 && inAppMessages.first?["messageId"] as? String == notification, "\(listed.raw)")
        #expect(inAppMessages.first?["deliveryTime"] is String)
        let inAppMessage = try await service.call("GetMessage", ["messageId": notification], as: .key(shop.productKey))
        #expect(
            inAppMessage.status == 200 && inAppMessage.body["channel"] as? String == "in-app"
                && (inAppMessage.body["payload"] as? [String: Any])?["title"] as? String == "Your code", "\(inAppMessage.raw)")
        #expect(try await service.call("GetMessage", ["messageId": notification], as: .key(other.productKey)).status == 404)
        #expect(try await service.call("ListMessages", ["receiverId": "u-1"], as: .key(other.productKey)).body["totalItems"] as? Int == 0)
    }

    @Test(
        "scheduled in-app: not in the inbox (nor its details) until its time, then at the top; tracked scheduled, then delivered; a cancelled one never shows"
    )
    func scheduledInApp() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        func schedule(_ title: String, in seconds: Double) async throws -> ServiceHarness.Reply {
            try await service.call(
                "SendNotification",
                [
                    "channel": "in-app", "messageCategory": "APPOINTMENT_REMINDER", "recipient": ["userId": "u-9"],
                    "content": ["title": title, "body": "b"], "scheduledAt": RFC3339.string(from: Date().addingTimeInterval(seconds)),
                ], as: .key(shop.productKey))
        }
        func inbox() async throws -> [String] {
            let reply = try await service.call("GetUserNotifications", ["userId": "u-9"], as: .key(shop.productKey))
            return (reply.body["notifications"] as? [[String: Any]] ?? []).compactMap { $0["title"] as? String }
        }
        let later = try await schedule("Later", in: 3)
        let cancelled = try await schedule("Never", in: 3)
        #expect(((later.body["deliveries"] as? [[String: Any]])?.first?["status"] as? String) == "scheduled", "\(later.raw)")
        _ = try await SendTests.send(service, key: shop.productKey, channels: ["in-app"], recipient: ["userId": "u-9"], title: "Now")
        let id = try #require(later.body["notificationId"] as? String)
        #expect(try await inbox() == ["Now"])
        #expect(try await service.call("GetNotificationDetails", ["notificationId": id], as: .key(shop.productKey)).status == 404)
        #expect(try await service.call("GetMessage", ["messageId": id], as: .key(shop.productKey)).body["status"] as? String == "scheduled")
        let cancel = try await service.call(
            "CancelRequest", ["requestId": try #require(cancelled.body["requestId"] as? String)],
            as: .key(shop.productKey))
        #expect(cancel.body["cancelled"] as? Int == 1, "\(cancel.raw)")

        let deadline = ContinuousClock.now + .seconds(15)
        while try await inbox().count < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(200)) }
        #expect(try await inbox() == ["Later", "Now"], "it shows at its time, newest first")
        let status = try await service.call("GetDeliveryStatus", ["notificationId": id], as: .key(shop.productKey))
        #expect((status.body["deliveries"] as? [[String: Any]])?.first?["status"] as? String == "delivered", "\(status.raw)")
        #expect(try await service.call("GetMessage", ["messageId": id], as: .key(shop.productKey)).body["status"] as? String == "delivered")
        try await Task.sleep(for: .seconds(1))
        #expect(try await inbox() == ["Later", "Now"], "the cancelled one never shows")
    }

    @Test(
        "group commits: 120 sends at once are written in fewer commits; a key sent ten times is one 202 and nine 208, a key with two bodies a 202 and a 409, a user named by 20 sends one entry"
    )
    func groupCommits() async throws {
        let port = try freeLoopbackPort()
        let service = try await ServiceHarness(
            environment: EmailDeliveryTests.smtpEnvironment.merging(["NOTIFY_HTTP_PORT": String(port)]) { $1 })
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        enum Kind { case repeated, clash(Int), shared(Int), plain(Int) }
        struct Sent { let status: Int64, requestID: String?, raw: String }
        let kinds: [Kind] =
            Array(repeating: .repeated, count: 10) + [.clash(1), .clash(2)] + (0..<20).map { .shared($0) } + (0..<88).map { .plain($0) }
        let replies = try await withThrowingTaskGroup(of: (Kind, Sent).self) { group in
            for kind in kinds.shuffled() {
                group.addTask {
                    let reply: ServiceHarness.Reply =
                        switch kind {
                        case .repeated:
                            try await Self.send(
                                service, key: shop.productKey, channels: ["email"], recipient: ["email": "dup-\(service.id)@example.com"],
                                idempotencyKey: "dup")
                        case .clash(let body):
                            try await Self.send(
                                service, key: shop.productKey, channels: ["email"], recipient: ["email": "clash-\(service.id)@example.com"],
                                body: "body \(body)", idempotencyKey: "clash")
                        case .shared(let index):
                            try await Self.send(
                                service, key: shop.productKey, channels: ["email"],
                                recipient: ["userId": "shared", "email": "shared-\(index)-\(service.id)@example.com"])
                        case .plain(let index):
                            try await Self.send(
                                service, key: shop.productKey, channels: ["email"],
                                recipient: ["email": "plain-\(index)-\(service.id)@example.com"])
                        }
                    return (kind, Sent(status: reply.status, requestID: reply.body["requestId"] as? String, raw: "\(reply.raw)"))
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        let repeats = replies.compactMap { kind, reply in if case .repeated = kind { reply } else { nil } }
        #expect(repeats.map(\.status).sorted() == [202] + Array(repeating: 208, count: 9))
        #expect(Set(repeats.compactMap(\.requestID)).count == 1, "every 208 names the one request")
        let clashes = replies.compactMap { kind, reply in if case .clash = kind { reply.status } else { nil } }
        #expect(clashes.sorted() == [202, 409])
        let others = replies.filter { kind, _ in if case .repeated = kind { false } else if case .clash = kind { false } else { true } }
        #expect(others.allSatisfy { $0.1.status == 202 }, "\(others.filter { $0.1.status != 202 }.map(\.1.raw))")

        let written = try await service.db.withConnection { db in
            try db.query(
                """
                SELECT (SELECT count(*) FROM send_requests WHERE product_id = \(shop.productID)::uuid),
                       (SELECT count(*) FROM notifications WHERE product_id = \(shop.productID)::uuid),
                       (SELECT count(*) FROM audit_events WHERE product_id = \(shop.productID)::uuid AND action = 'send.accepted'),
                       (SELECT count(*) FROM recipients WHERE user_id = 'shared')
                """)[0].decode(Int.self, Int.self, Int.self, Int.self)
        }
        #expect(written.0 == 110 && written.1 == 110 && written.2 == 110, "one request, notification and audit row per 202: \(written)")
        #expect(
            try await service.refusals(atLeast: 1) == ["SendNotification refused:409 key:\(shop.productKey.dropFirst(4).prefix(16))": 1],
            "the 409 is audited")
        #expect(written.3 == 1, "one directory entry for the user 20 sends named")
        let metrics = try await HTTPListenerTests.get(port, "/metrics").text
        let commits = HTTPListenerTests.sample(metrics, "notify_send_commits_total") ?? 0
        #expect(HTTPListenerTests.sample(metrics, "notify_send_commit_requests_total") == 120)
        #expect(commits >= 1 && commits < 120, "\(commits) commits for 120 sends")
    }

    @Test(
        "opt-outs: a category a user opted out of on a channel is skipped (opted-out), never sent; other categories go; '*' spares critical ones; a critical opt-out is 400; changes audited"
    )
    func optOuts() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let (user, address) = ("opt-\(service.id)", "opt-\(service.id)@example.com")
        func prefer(_ optOuts: [[String: Any]]) async throws -> ServiceHarness.Reply {
            try await service.call("UpsertRecipient", ["userId": user, "email": address, "optOuts": optOuts], as: .key(shop.productKey))
        }
        /// The status of one email of `category` to the user, and its history's last detail.
        func email(_ category: String) async throws -> (status: String?, detail: String?) {
            let sent = try await Self.send(
                service, key: shop.productKey, channels: ["email"], category: category,
                recipient: ["userId": user], title: category)
            #expect(sent.status == 202, "\(sent.raw)")
            let delivery = try await Self.settled(try #require(sent.body["notificationId"] as? String), key: shop.productKey, service).first
            let history = delivery?["history"] as? [[String: Any]] ?? []
            return (delivery?["status"] as? String, history.compactMap { $0["detail"] as? String }.last)
        }

        let stored = try await prefer([["channel": "email", "category": "NEWSLETTER"]])
        #expect(stored.status == 200 && (stored.body["optOuts"] as? [[String: Any]])?.first?["category"] as? String == "NEWSLETTER")
        let critical = try await prefer([["channel": "email", "category": "OTP"]])
        let message = (critical.body["error"] as? [String: Any])?["message"] as? String
        #expect(critical.status == 400 && message?.contains("optOuts[0].category") == true, "\(critical.raw)")
        let newsletter = try await email("NEWSLETTER")
        #expect(newsletter.status == "skipped" && newsletter.detail == "opted-out", "\(newsletter)")
        #expect(try await email("INVOICE").status == "sent")

        #expect(try await prefer([["channel": "email"]]).status == 200)
        #expect(try await email("OTP").status == "sent", "a critical category is never opted out of")
        #expect(try await email("ORDER_CONFIRMATION").status == "skipped")
        let mails = await Maildir.wait(to: address, count: 2)
        #expect(mails.compactMap { $0.header("Subject") }.sorted() == ["INVOICE", "OTP"])

        let audit = try await service.call("ListAuditEvents", ["entity": "recipient:\(user)"], as: .key(shop.productKey))
        let events = audit.body["events"] as? [[String: Any]] ?? []
        #expect(events.filter { $0["action"] as? String == "preferences.changed" }.count == 2, "\(audit.raw)")
    }

    @Test("quiet hours: in the recipient's zone, a normal-lane email waits as scheduled until the window ends, an OTP goes at once")
    func quietHours() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let (user, address) = ("quiet-\(service.id)", "quiet-\(service.id)@example.com")
        // A window from an hour ago to two hours ahead, in Tokyo (no daylight saving time).
        var tokyo = Calendar(identifier: .gregorian)
        tokyo.timeZone = try #require(TimeZone(identifier: "Asia/Tokyo"))
        let local = tokyo.dateComponents([.hour, .minute], from: Date())
        let minute = (local.hour ?? 0) * 60 + (local.minute ?? 0)
        func clock(_ minutes: Int) -> String { String(format: "%02d:%02d", ((minutes + 1440) % 1440) / 60, ((minutes + 1440) % 1440) % 60) }
        let window = ["start": clock(minute - 60), "end": clock(minute + 120)]
        let stored = try await service.call(
            "UpsertRecipient", ["userId": user, "email": address, "timezone": "Asia/Tokyo", "quietHours": window],
            as: .key(shop.productKey))
        #expect(stored.status == 200 && (stored.body["quietHours"] as? [String: Any])?["end"] as? String == window["end"], "\(stored.raw)")
        let bad = try await service.call(
            "UpsertRecipient", ["userId": user, "quietHours": ["start": "25:00", "end": "07:00"]], as: .key(shop.productKey))
        #expect(bad.status == 400)

        let reminder = try await Self.send(
            service, key: shop.productKey, channels: ["email"], category: "ORDER_CONFIRMATION",
            recipient: ["userId": user], title: "Reminder")
        let notification = try #require(reminder.body["notificationId"] as? String)
        let held = try #require(try await Self.settled(notification, key: shop.productKey, service).first)
        let detail = (held["history"] as? [[String: Any]])?.compactMap { $0["detail"] as? String }.last ?? ""
        #expect(held["status"] as? String == "scheduled" && detail.hasPrefix("quiet-hours until "), "\(held)")
        let until = try #require(RFC3339.date(from: String(detail.dropFirst("quiet-hours until ".count))))
        #expect(until.timeIntervalSinceNow > 110 * 60 && until.timeIntervalSinceNow <= 120 * 60, "the window's end in Tokyo: \(detail)")
        let otp = try await Self.send(
            service, key: shop.productKey, channels: ["email"], category: "OTP", recipient: ["userId": user], title: "Code")
        #expect(
            try await Self.settled(try #require(otp.body["notificationId"] as? String), key: shop.productKey, service).first?["status"]
                as? String
                == "sent", "the high lane never waits")

        // The user lifts the window; when the held job comes due it is claimed again and sent, once.
        #expect(
            try await service.call("UpsertRecipient", ["userId": user, "quietHours": NSNull()], as: .key(shop.productKey)).status == 200)
        let deliveryID = try #require(held["deliveryId"] as? String)
        try await service.db.withConnection { db in
            _ = try db.execute("UPDATE scheduled_jobs SET due_at = now() WHERE delivery_id = \(deliveryID)::uuid")
        }
        let mails = await Maildir.wait(to: address, count: 2)
        #expect(mails.compactMap { $0.header("Subject") }.sorted() == ["Code", "Reminder"])
        let audit = try await service.call("ListAuditEvents", ["entity": "recipient:\(user)"], as: .key(shop.productKey))
        #expect((audit.body["events"] as? [[String: Any]] ?? []).filter { $0["action"] as? String == "preferences.changed" }.count == 2)
    }

    @Test("one-click unsubscribe: a marketing email's signed link; GET only asks, POST opts out of that category; a forged token 400")
    func unsubscribeLink() async throws {
        let port = try freeLoopbackPort()
        let service = try await ServiceHarness(
            environment: EmailDeliveryTests.smtpEnvironment.merging([
                "NOTIFY_EMAIL_UNSUBSCRIBE_URL": "http://127.0.0.1:\(port)/unsubscribe?token={token}",
                "NOTIFY_EMAIL_UNSUBSCRIBE_SECRET": "unsubscribe-secret-of-at-least-32-characters", "NOTIFY_HTTP_PORT": String(port),
            ]) { $1 })
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let (user, address) = ("unsub-\(service.id)", "unsub-\(service.id)@example.com")
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": address], as: .key(shop.productKey)).status == 200)
        _ = try await Self.send(
            service, key: shop.productKey, channels: ["email"], category: "NEWSLETTER", recipient: ["userId": user], title: "News")
        let mail = try #require(await Maildir.wait(to: address, count: 1).first)
        let header = try #require(mail.header("List-Unsubscribe"))
        let link = String(header.dropFirst().dropLast())
        #expect(link.hasPrefix("http://127.0.0.1:\(port)/unsubscribe?token=u1."), "\(header)")
        let path = String(link.dropFirst("http://127.0.0.1:\(port)".count))

        let page = try await SendHTTPTests.call(port, .GET, path, key: nil)
        #expect(page.status == 200 && page.text.contains("newsletter") && page.text.contains("method=\"post\""), "\(page.text)")
        let before = try await service.call("GetRecipient", ["userId": user], as: .key(shop.productKey))
        #expect((before.body["optOuts"] as? [Any])?.isEmpty == true, "a GET (a mail scanner's) changes nothing")
        let done = try await SendHTTPTests.call(port, .POST, path, key: nil, raw: Array("List-Unsubscribe=One-Click".utf8))
        #expect(done.status == 200 && done.text.contains("unsubscribed"))
        let after = try await service.call("GetRecipient", ["userId": user], as: .key(shop.productKey))
        #expect((after.body["optOuts"] as? [[String: Any]])?.first?["category"] as? String == "NEWSLETTER", "\(after.raw)")
        let forged = try await SendHTTPTests.call(port, .POST, String(path.dropLast(3)) + "AAA", key: nil)
        #expect(forged.status == 400)

        let newsletter = try await Self.send(
            service, key: shop.productKey, channels: ["email"], category: "NEWSLETTER", recipient: ["userId": user])
        #expect(
            try await Self.settled(try #require(newsletter.body["notificationId"] as? String), key: shop.productKey, service)
                .first?["status"] as? String == "skipped")
        let offer = try await Self.send(
            service, key: shop.productKey, channels: ["email"], category: "PROMOTIONAL_OFFER", recipient: ["userId": user])
        #expect(
            try await Self.settled(try #require(offer.body["notificationId"] as? String), key: shop.productKey, service)
                .first?["status"] as? String == "sent", "another category still goes")
        let audit = try await service.call("ListAuditEvents", ["entity": "recipient:\(user)"], as: .key(shop.productKey))
        #expect((audit.body["events"] as? [[String: Any]] ?? []).contains { $0["actor"] as? String == "unsubscribe-link" }, "\(audit.raw)")
    }

    @Test(
        "notifyctl: send with a product's key from the environment (the email arrives, a repeat is the same request), set and show opt-outs"
    )
    func notifyctl() async throws {
        let service = try await Self.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let environment = [
            "NOTIFY_AMQP_URL": service.slot.amqpURL, "NOTIFY_TOPOLOGY_RPC_QUEUE": service.rpcQueue, "NOTIFY_API_KEY": shop.productKey,
        ]
        let address = "ctl-\(service.id)@example.com"
        let arguments = [
            "send", "--channel", "email", "--category", "ORDER_CONFIRMATION", "--email", address, "--title", "Order 7",
            "--body", "Your order is confirmed", "--idempotency-key", "order-7", "--json",
        ]
        let sent = try NotifyctlProcess.run(arguments, environment)
        #expect(sent.status == 0, "\(sent.output)")
        let requestID = try #require(
            (try JSONSerialization.jsonObject(with: Data(sent.output.utf8)) as? [String: Any])?["requestId"] as? String)
        let again = try NotifyctlProcess.run(arguments, environment)
        #expect(again.status == 0 && again.output.contains(requestID), "\(again.output)")
        #expect(await Maildir.wait(to: address, count: 1).first?.header("Subject") == "Order 7")
        try await Task.sleep(for: .milliseconds(500))
        #expect(Maildir.messages(to: address).count == 1, "the repeat sent nothing")

        let refused = try NotifyctlProcess.run(
            [
                "send", "--channel", "email", "--category", "NO_SUCH", "--email", address,
                "--title", "t", "--body", "b",
            ], environment)
        #expect(refused.status != 0 && refused.output.contains("400"), "\(refused.output)")
        let user = "ctl-user-\(service.id)"
        let set = try NotifyctlProcess.run(
            ["recipient", "set", user, "--email", address, "--opt-out", "sms", "--opt-out", "email:NEWSLETTER"], environment)
        #expect(set.status == 0 && set.output.contains("sms:*") && set.output.contains("email:NEWSLETTER"), "\(set.output)")
        let critical = try NotifyctlProcess.run(["recipient", "set", user, "--opt-out", "email:OTP"], environment)
        #expect(critical.status != 0 && critical.output.contains("critical"), "\(critical.output)")
    }
}
