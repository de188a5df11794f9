import Foundation
import Postgres
import StackSupport
import Testing

/// Rate limits that pace instead of dropping, shared through PostgreSQL by every daemon on the database.
@Suite("Pacing: shared GCRA rate limits", .needsStack)
struct PacingTests {
    /// When aiosmtpd received each message to `prefix…`: Python's Maildir keys begin `<seconds>.M<microseconds>`.
    static func receiveTimes(prefix: String) -> [Double] {
        Maildir.messages(to: nil).filter { $0.header("To")?.hasPrefix(prefix) == true }.compactMap { message in
            let parts = message.key.split(separator: ".")
            guard parts.count > 1, let seconds = Double(parts[0]), parts[1].first == "M",
                let micros = Double(parts[1].dropFirst().prefix { $0.isNumber })
            else { return nil }
            return seconds + micros / 1e6
        }.sorted()
    }

    /// A harness sending to the stack's aiosmtpd with `settings` on top of the email tests' own.
    static func service(_ settings: [String: String]) async throws -> ServiceHarness {
        try await ServiceHarness(environment: EmailDeliveryTests.smtpEnvironment.merging(settings) { $1 })
    }

    /// Waits until aiosmtpd holds `count` messages to `prefix…` (or 60 s pass); returns their arrival times.
    static func waitForArrivals(_ count: Int, prefix: String) async throws -> [Double] {
        var times = receiveTimes(prefix: prefix)
        let deadline = ContinuousClock.now + .seconds(60)
        while times.count < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            times = receiveTimes(prefix: prefix)
        }
        return times
    }

    static func register(_ users: [String], domain: String, _ service: ServiceHarness) async throws {
        _ = try await service.db.withConnection { db in
            try db.copy(into: "recipients", columns: ["user_id", "email"], rows: users.map { [$0, "\($0)@\(domain)"] })
        }
    }

    @Test("two daemons, one limit of 20/s: 60 emails all arrive once, never more than burst + rate in any second")
    func sharedByDaemons() async throws {
        let service = try await Self.service([
            "NOTIFY_EMAIL_RATE_PER_SECOND": "20",
            "NOTIFY_EMAIL_RATE_BURST": "2",
        ])
        defer { Task { await service.shutDown() } }
        let second = try DaemonProcess(environment: service.environment)
        defer { second.stop() }
        #expect(await second.waitForLog("ready"))

        let users = (0..<60).map { "paced-\(service.id)-\($0)" }
        try await Self.register(users, domain: "example.com", service)
        let started = Date().timeIntervalSince1970
        try await service.publish(users.enumerated().map { Payments.confirmed(user: $1, index: $0) })
        let prefix = "paced-\(service.id)-"
        let times = try await Self.waitForArrivals(users.count, prefix: prefix)
        #expect(times.count == users.count, "every email arrives, and once")
        let recipients = Set(Maildir.messages(to: nil).compactMap { $0.header("To") }.filter { $0.hasPrefix(prefix) })
        #expect(recipients.count == users.count)
        // 60 at 20/s with a burst of 2: the last cannot go before (60 − 2) / 20 = 2.9 s after the first.
        let span = (times.last ?? 0) - (times.first ?? 0)
        #expect(span >= 2.8, "paced: \(span) s from first to last")
        for (i, start) in times.enumerated() {
            let inSecond = times[i...].prefix { $0 < start + 1 }.count
            #expect(inSecond <= 2 + 20 + 1, "at most burst + rate in any second (+1 for clock granularity): \(inSecond)")
        }
        // Both daemons took part: each reserved from the same schedule.
        let reservers = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM rate_limits WHERE key = 'provider:smtp'")[0].decode(0, as: Int.self)
        }
        #expect(reservers == 1)
        #expect(Date().timeIntervalSince1970 - started < 30)
    }

    @Test("a slot further off than the longest hold: the job waits in a tier, its attempt not spent, and is sent once")
    func deferredToATier() async throws {
        let service = try await Self.service([
            "NOTIFY_EMAIL_RATE_PER_SECOND": "1",
            "NOTIFY_EMAIL_RATE_BURST": "1",
            "NOTIFY_DELIVERY_MAX_PACING_WAIT_SECONDS": "0",
        ])
        defer { Task { await service.shutDown() } }
        let users = (0..<3).map { "deferred-\(service.id)-\($0)" }
        try await Self.register(users, domain: "example.com", service)
        try await service.publish(users.enumerated().map { Payments.confirmed(user: $1, index: $0) })
        for user in users {
            let email = try await EmailDeliveryTests.delivery(of: user, service, until: "sent", timeout: .seconds(60))
            #expect(email["attempts"] as? Int == 1, "pacing spends no attempt")
        }
        let paced = try await service.db.withConnection { db in
            try db.query(
                """
                SELECT count(*) FROM delivery_history WHERE error_code = 'paced' AND status = 'failed' AND attempt = 0
                """)[0].decode(0, as: Int.self)
        }
        #expect(paced >= 1, "at least one job waited in a tier")
        #expect(Self.receiveTimes(prefix: "deferred-\(service.id)-").count == 3, "each sent once")
    }

    @Test("the high lane's reserved share: bulk mail at the limit goes at the bulk share, and a high-lane email passes it")
    func highLaneReserve() async throws {
        let service = try await Self.service([
            "NOTIFY_EMAIL_RATE_PER_SECOND": "10",
            "NOTIFY_EMAIL_RATE_BURST": "2",
            "NOTIFY_DELIVERY_HIGH_LANE_RESERVE_PERCENT": "50",
        ])
        defer { Task { await service.shutDown() } }
        // Sixty: the campaign lasts twelve seconds, so a slow machine's late look at the first arrivals still leaves it
        // under way when the urgent email is published.
        let users = (0..<60).map { "bulk-\(service.id)-\($0)" }
        let urgent = "urgent-\(service.id)"
        try await Self.register(users + [urgent], domain: "example.com", service)
        try await service.publish(users.enumerated().map { Payments.confirmed(user: $1, index: $0) })
        let prefix = "bulk-\(service.id)-"
        _ = try await Self.waitForArrivals(5, prefix: prefix)
        let published = Date().timeIntervalSince1970
        try await service.publish([Payments.confirmed(user: urgent, index: 99, status: "failed")])
        let times = try await Self.waitForArrivals(users.count, prefix: prefix)
        #expect(times.count == users.count)
        // 60 at the bulk share of 5/s with a burst of 1: at least (60 − 1) / 5 = 11.8 s.
        let span = (times.last ?? 0) - (times.first ?? 0)
        #expect(span >= 11.6, "bulk paced at its share: \(span) s")
        let sentUrgent = try #require(Self.receiveTimes(prefix: urgent).first)
        #expect(sentUrgent - published < 2, "the high-lane email waited \(sentUrgent - published) s")
        #expect(sentUrgent < (times.last ?? 0), "sent before the campaign finished")
    }

    @Test("per recipient: over 2 an hour the rest wait in a tier without spending attempts; the high lane is exempt")
    func perRecipient() async throws {
        let service = try await Self.service([
            "NOTIFY_DELIVERY_RECIPIENT_LIMIT_PER_HOUR": "2"
        ])
        defer { Task { await service.shutDown() } }
        let user = "chatty-\(service.id)"
        try await Self.register([user], domain: "example.com", service)
        try await service.publish((1...4).map { Payments.confirmed(user: user, index: $0) })
        var statuses: [String: Int] = [:]
        let deadline = ContinuousClock.now + .seconds(30)
        while statuses["sent"] != 2 || statuses["failed"] != 2, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            statuses = try await service.db.withConnection { db in
                try db.query("SELECT status, count(*) FROM deliveries WHERE user_id = \(user) AND channel = 'email' GROUP BY status")
                    .reduce(into: [String: Int]()) { $0[try $1.decode(0, as: String.self)] = try $1.decode(1, as: Int.self) }
            }
        }
        #expect(statuses == ["sent": 2, "failed": 2], "two sent, two waiting for the next slot")
        let waiting = try await service.db.withConnection { db in
            try db.query(
                """
                SELECT attempts, last_error_code FROM deliveries WHERE user_id = \(user) AND channel = 'email' AND status = 'failed'
                """
            ).map { "\(try $0.decode(0, as: Int.self)) \(try $0.decode(1, as: String.self))" }
        }
        #expect(waiting == ["0 paced", "0 paced"])
        // A failed payment rides the high lane: the limit does not hold it back.
        try await service.publish([Payments.confirmed(user: user, index: 5, status: "failed")])
        let sent = ContinuousClock.now + .seconds(20)
        var sentCount = 0
        while sentCount < 3, ContinuousClock.now < sent {
            try await Task.sleep(for: .milliseconds(200))
            sentCount = try await service.db.withConnection { db in
                try db.query("SELECT count(*) FROM deliveries WHERE user_id = \(user) AND channel = 'email' AND status = 'sent'")[0]
                    .decode(0, as: Int.self)
            }
        }
        #expect(sentCount == 3, "the high-lane email went out despite the limit")
    }
}
