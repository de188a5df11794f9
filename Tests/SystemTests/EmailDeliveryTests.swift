import AMQP
import Foundation
import StackSupport
import Testing

/// Email through the real pipeline to aiosmtpd (STARTTLS and AUTH required, a Maildir), started by the test
/// command. Recipients' local parts steer the server: `tempfail<N>` gets 451 on its first N attempts, `reject`
/// gets 550.
@Suite("Email over SMTP: lanes, retries, dead letters, the Maildir", .needsStack)
struct EmailDeliveryTests {
    static var smtpEnvironment: [String: String] {
        let env = ProcessInfo.processInfo.environment
        return [
            "NOTIFY_EMAIL_HOST": "127.0.0.1", "NOTIFY_EMAIL_PORT": env["NOTIFY_TEST_SMTP_PORT"] ?? "2525",
            "NOTIFY_EMAIL_TLS": "starttls", "NOTIFY_EMAIL_SERVER_NAME": "localhost",
            "NOTIFY_EMAIL_CA_CERTIFICATE": env["NOTIFY_TEST_TLS_CA"] ?? "",
            "NOTIFY_EMAIL_USERNAME": "notify", "NOTIFY_EMAIL_PASSWORD": env["NOTIFY_TEST_SMTP_PASSWORD"] ?? "",
            "NOTIFY_EMAIL_FROM": "notifications@flowmart.example", "NOTIFY_EMAIL_FROM_NAME": "FlowMart",
            // Tiers of one second, so retries are seen within a test.
            "NOTIFY_DELIVERY_RETRY_SECONDS_HIGH": "1,1", "NOTIFY_DELIVERY_RETRY_SECONDS_NORMAL": "1,1",
            "NOTIFY_DELIVERY_RETRY_SECONDS_LOW": "1,1",
        ]
    }

    @Test("a payment for a registered address: one email in the Maildir with its parts and headers, tracked as sent with the server's id")
    func delivered() async throws {
        let service = try await ServiceHarness(environment: Self.smtpEnvironment)
        defer { Task { await service.shutDown() } }
        let user = "user-\(service.id)"
        let address = "pay-\(service.id)@example.com"
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": address]).status == 200)
        try await service.publish([Payments.confirmed(user: user, index: 7)])
        let email = try await Self.delivery(of: user, service, until: "sent")
        let mail = try #require(await Maildir.wait(to: address, count: 1).first)
        #expect(mail.header("Subject") == "Payment received for order order-7")
        #expect(mail.header("From") == "\"FlowMart\" <notifications@flowmart.example>")
        #expect(mail.header("Message-ID") == "<\(email["deliveryId"] as? String ?? "")@flowmart.example>")
        #expect(mail.header("Content-Type")?.hasPrefix("multipart/alternative; boundary=") == true)
        #expect(mail.header("List-Unsubscribe") == nil, "payments are transactional")
        #expect(mail.text.contains("Content-Type: text/plain; charset=utf-8"))
        #expect(mail.text.contains("Content-Type: text/html; charset=utf-8"))
        #expect(mail.text.contains("We received your payment of $7.25 for order order-7."))
        #expect(mail.text.contains("<strong>$7.25</strong>"))
        #expect(email["providerMessageId"] as? String == mail.key)
        #expect(email["attempts"] as? Int == 1)
        let history = (email["history"] as? [[String: Any]] ?? []).map { $0["status"] as? String ?? "" }
        #expect(history == ["queued", "sending", "sent"])
        // What the delivery keeps of the address (all that survives an erasure): its SHA-256.
        let hashes = try await service.db.withConnection { db in
            try db.query(
                """
                SELECT address_hash = encode(sha256(convert_to(\(address), 'UTF8')), 'hex') FROM deliveries WHERE user_id = \(user)
                """
            ).map { try $0.decode(0, as: Bool.self) }
        }
        #expect(hashes == [true])
    }

    @Test("451 twice, then accepted: sent once, on the third attempt, after two retries through the tiers")
    func transientThenSent() async throws {
        let service = try await ServiceHarness(environment: Self.smtpEnvironment)
        defer { Task { await service.shutDown() } }
        let user = "user-\(service.id)"
        let address = "tempfail2-\(service.id)@example.com"
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": address]).status == 200)
        try await service.publish([Payments.confirmed(user: user, index: 1, status: "failed")])
        let email = try await Self.delivery(of: user, service, until: "sent")
        #expect(email["attempts"] as? Int == 3)
        let history = email["history"] as? [[String: Any]] ?? []
        #expect(history.map { $0["status"] as? String ?? "" } == ["queued", "sending", "failed", "sending", "failed", "sending", "sent"])
        #expect(
            history.filter { $0["status"] as? String == "failed" }.allSatisfy {
                let error = $0["error"] as? [String: Any]
                return error?["code"] as? String == "smtp-451" && error?["class"] as? String == "transient"
            })
        #expect(await Maildir.wait(to: address, count: 1).count == 1)
        try await Task.sleep(for: .seconds(1))
        #expect(Maildir.messages(to: address).count == 1, "never twice")
    }

    @Test("550: dead at once, parked with the reply and the delivery's headers; a user with no email is skipped")
    func permanentAndNoAddress() async throws {
        let service = try await ServiceHarness(environment: Self.smtpEnvironment)
        defer { Task { await service.shutDown() } }
        let user = "user-\(service.id)"
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": "reject-\(service.id)@example.com"]).status == 200)
        try await service.publish([Payments.confirmed(user: user, index: 1)])
        let dead = try await Self.delivery(of: user, service, until: "dead")
        #expect(dead["attempts"] as? Int == 1)
        #expect((dead["lastError"] as? [String: Any])?["code"] as? String == "smtp-550")
        let parked = try await service.drainParked(expected: 1)
        let headers = try #require(parked.first?.properties.headers)
        #expect(headers["x-dead-letter-reason"] == .string("undeliverable"))
        #expect(headers["x-delivery-id"] == .string(dead["deliveryId"] as? String ?? ""))
        #expect(headers["x-channel"] == .string("email") && headers["x-attempts"] == .int(1))
        #expect(headers["x-last-error-class"] == .string("permanent"))
        if case .string(let detail) = headers["x-dead-letter-detail"] { #expect(detail.contains("550")) } else { Issue.record("no detail") }

        let nobody = "nobody-\(service.id)"
        try await service.publish([Payments.confirmed(user: nobody, index: 2)])
        let skipped = try await Self.delivery(of: nobody, service, until: "skipped")
        #expect(skipped["attempts"] as? Int == 0)
        #expect((skipped["history"] as? [[String: Any]])?.last?["detail"] as? String == "no-address")
    }

    @Test("a dead delivery in the archive: listed, redriven once after the address is fixed, sent once; a second redrive finds nothing")
    func redriveDelivery() async throws {
        var environment = Self.smtpEnvironment
        environment["NOTIFY_TOPOLOGY_ARCHIVE_PARKED"] = "true"
        let service = try await ServiceHarness(environment: environment)
        defer { Task { await service.shutDown() } }
        let user = "user-\(service.id)"
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": "reject-\(service.id)@example.com"]).status == 200)
        try await service.publish([Payments.confirmed(user: user, index: 3)])
        let dead = try await Self.delivery(of: user, service, until: "dead")
        let entry = try await Self.parked(service, count: 1, kind: "delivery").first
        #expect(entry?["reason"] as? String == "undeliverable" && entry?["deliveryId"] as? String == dead["deliveryId"] as? String)
        #expect((entry?["detail"] as? String)?.contains("550") == true)
        #expect(try await service.parkedCount() == 0, "the archive took it off the queue")

        let fixed = "fixed-\(service.id)@example.com"
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": fixed]).status == 200)
        let parkedID = try #require(entry?["parkedId"] as? String)
        let redrive = try await service.call("RedriveParked", ["parkedIds": [parkedID]])
        #expect(redrive.status == 200 && redrive.body["redriven"] as? Int == 1)
        let sent = try await Self.delivery(of: user, service, until: "sent")
        #expect(sent["deliveryId"] as? String == dead["deliveryId"] as? String && sent["attempts"] as? Int == 2)
        let history = (sent["history"] as? [[String: Any]] ?? []).map { $0["status"] as? String ?? "" }
        #expect(history == ["queued", "sending", "dead", "queued", "sending", "sent"])
        #expect(await Maildir.wait(to: fixed, count: 1).count == 1)
        #expect(try await service.call("RedriveParked", ["parkedIds": [parkedID]]).body["redriven"] as? Int == 0)
        try await Task.sleep(for: .seconds(1))
        #expect(Maildir.messages(to: fixed).count == 1, "sent once")
        #expect(try await Self.parked(service, count: 0, kind: nil).isEmpty)
    }

    @Test("a parked event redriven fails again and is parked again with its reason; purge removes it; bad selectors are 400")
    func redriveEventAndPurge() async throws {
        let service = try await ServiceHarness(environment: ["NOTIFY_TOPOLOGY_ARCHIVE_PARKED": "true"])
        defer { Task { await service.shutDown() } }
        try await service.publish([Array("not json".utf8)])
        let first = try #require(try await Self.parked(service, count: 1, kind: "event").first)
        #expect(first["reason"] as? String == "invalid-json" && first["routingKey"] as? String == "payment.processed")
        #expect(try await service.call("RedriveParked", ["reason": "invalid-json"]).body["redriven"] as? Int == 1)
        // Back through the events exchange, refused again, parked again: a new entry with the same reason.
        var again: [[String: Any]] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            again = try await Self.parked(service, count: nil, kind: "event")
            if again.first.map({ $0["parkedId"] as? String != first["parkedId"] as? String }) == true { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(again.count == 1 && again.first?["reason"] as? String == "invalid-json")
        #expect(again.first?["parkedId"] as? String != first["parkedId"] as? String)
        #expect(try await service.call("PurgeParked", ["all": true]).body["purged"] as? Int == 1)
        #expect(try await Self.parked(service, count: 0, kind: nil).isEmpty)
        #expect(try await service.call("RedriveParked", ["all": true, "reason": "x"]).status == 400)
        #expect(try await service.call("PurgeParked", [:]).status == 400)
        #expect(try await service.call("ListParked", ["cursor": "abc"]).status == 400)
    }

    @Test("ListDeliveries pages a user's deliveries newest first, and filters by status")
    func listDeliveries() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let user = "user-\(service.id)"
        try await service.publish((1...3).map { Payments.confirmed(user: user, index: $0) })
        #expect(try await service.waitForStored(3) == 3)
        var seen: [String] = []
        var cursor: String?
        repeat {
            var request: [String: Any] = ["userId": user, "limit": 2]
            if let cursor { request["cursor"] = cursor }
            let page = try await service.call("ListDeliveries", request)
            #expect(page.status == 200)
            let deliveries = page.body["deliveries"] as? [[String: Any]] ?? []
            #expect(
                deliveries.allSatisfy { $0["userId"] as? String == user && $0["channel"] as? String == "email" && $0["history"] == nil })
            seen += deliveries.compactMap { $0["deliveryId"] as? String }
            cursor = page.body["nextCursor"] as? String
        } while cursor != nil
        #expect(seen.count == 3 && Set(seen).count == 3)
        let skipped = try await service.call("ListDeliveries", ["userId": user, "status": "skipped", "limit": 100])
        #expect((skipped.body["deliveries"] as? [[String: Any]])?.count == 3, "no email provider: skipped")
        let sent = try await service.call("ListDeliveries", ["userId": user, "status": "sent"])
        #expect((sent.body["deliveries"] as? [Any])?.isEmpty == true)
        #expect(try await service.call("ListDeliveries", ["status": "nonsense"]).status == 400)
    }

    /// The archive's entries, once there are `count` of them (any number for nil).
    static func parked(_ service: ServiceHarness, count: Int?, kind: String?, timeout: Duration = .seconds(30)) async throws -> [[String:
        Any]]
    {
        let deadline = ContinuousClock.now + timeout
        while true {
            var request: [String: Any] = ["limit": 100]
            if let kind { request["kind"] = kind }
            let entries = try await service.call("ListParked", request).body["parked"] as? [[String: Any]] ?? []
            if count == nil || entries.count == count { return entries }
            guard ContinuousClock.now < deadline else { throw SupportFailure("expected \(count ?? 0) parked, found \(entries.count)") }
            try await Task.sleep(for: .milliseconds(100))
        }
    }

    @Test("TLS required but the server offers no STARTTLS: nothing is sent, the provider is reported down, no attempt is spent")
    func noStartTLS() async throws {
        var environment = Self.smtpEnvironment
        environment["NOTIFY_EMAIL_PORT"] = ProcessInfo.processInfo.environment["NOTIFY_TEST_SMTP_PLAIN_PORT"] ?? "2526"
        let service = try await ServiceHarness(environment: environment)
        defer { Task { await service.shutDown() } }
        let user = "user-\(service.id)"
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": "plain-\(service.id)@example.com"]).status == 200)
        try await service.publish([Payments.confirmed(user: user, index: 1)])
        let logged = await service.daemon.waitForLog("provider is down")
        #expect(logged)
        #expect(service.daemon.log.contains("starttls-unavailable"))
        let email = try await Self.delivery(of: user, service, until: nil)
        #expect(email["status"] as? String == "sending" && email["attempts"] as? Int == 0)
        #expect(!service.daemon.log.contains("AUTH"))
    }

    /// The email delivery of the user's only notification, once its status is `status` (or at once for nil).
    static func delivery(
        of user: String, channel: String = "email", _ service: ServiceHarness, until status: String?, timeout: Duration = .seconds(30)
    ) async throws -> [String: Any] {
        let deadline = ContinuousClock.now + timeout
        var seen: Any = "no notification"
        while true {
            let list = try await service.call("GetUserNotifications", ["userId": user]).body["notifications"] as? [[String: Any]]
            if let id = list?.first?["notificationId"] as? String {
                let deliveries =
                    try await service.call("GetDeliveryStatus", ["notificationId": id]).body["deliveries"] as? [[String: Any]] ?? []
                if let email = deliveries.first(where: { $0["channel"] as? String == channel }) {
                    if status == nil || email["status"] as? String == status { return email }
                    seen = email
                }
            }
            guard ContinuousClock.now < deadline else {
                throw SupportFailure(
                    "the \(channel) delivery of \(user) did not become \(status ?? "visible"): \(seen)\n\(service.daemon.log.suffix(3000))")
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}

/// The messages aiosmtpd wrote to the stack's Maildir.
enum Maildir {
    struct Message {
        var key: String
        var text: String
        /// The first header of that name, unfolded.
        func header(_ name: String) -> String? {
            // Python's mailbox stores lines with the platform's line ending.
            let head = text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n\n").first ?? ""
            let unfolded = head.replacingOccurrences(of: "\n ", with: " ")
            for line in unfolded.components(separatedBy: .newlines) where line.lowercased().hasPrefix(name.lowercased() + ":") {
                return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
            }
            return nil
        }
    }

    static var directory: URL {
        URL(fileURLWithPath: ProcessInfo.processInfo.environment["NOTIFY_TEST_MAILDIR"] ?? "\(repositoryRoot.path)/.stack/smtp/maildir")
    }

    /// The messages to `address` (nil: to anyone), or, with `containing`, those whose text has it (a cheap filter
    /// before any header is parsed, for a Maildir of thousands).
    static func messages(to address: String?, containing: String? = nil, in maildir: URL = directory) -> [Message] {
        let folder = maildir.appendingPathComponent("new")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        let needle = containing.map { Data($0.utf8) }
        return names.compactMap { name in
            guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(name).path) else { return nil }
            if let needle, data.range(of: needle) == nil { return nil }
            let message = Message(key: name, text: String(decoding: data, as: UTF8.self))
            return address == nil || message.header("To") == address ? message : nil
        }
    }

    static func wait(to address: String, count: Int, timeout: Duration = .seconds(30)) async -> [Message] {
        let deadline = ContinuousClock.now + timeout
        var found = messages(to: address)
        while found.count < count, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
            found = messages(to: address)
        }
        return found
    }
}
