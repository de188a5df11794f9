import Foundation
import Postgres
import StackSupport
import Testing

/// Email with two providers: SMTP first, SES (its contract fake, SigV4 checked by botocore) second.
@Suite("Email failover: breakers route around a failing provider", .needsStack)
struct EmailFailoverTests {
    static func register(_ users: [String], _ service: ServiceHarness) async throws {
        _ = try await service.db.withConnection { db in
            try db.copy(into: "recipients", columns: ["user_id", "email"], rows: users.map { [$0, "\($0)@example.com"] })
        }
    }

    /// Waits until the SES fake holds `count` messages; returns their MIME Message-IDs.
    static func waitForSES(_ count: Int, _ ses: SESFake, timeout: Duration = .seconds(60)) async throws -> [String] {
        let deadline = ContinuousClock.now + timeout
        var ids = try await ses.messages().compactMap { $0["headerMessageId"] as? String }
        while ids.count < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            ids = try await ses.messages().compactMap { $0["headerMessageId"] as? String }
        }
        return ids
    }

    @Test("SMTP unreachable: its breaker opens at once and every email goes out through SES, once; ready names both")
    func failsOverToSES() async throws {
        let ses = try SESFake()
        let listener = try freeLoopbackPort()
        let service = try await ServiceHarness(
            environment: ses.environment.merging([
                "NOTIFY_EMAIL_HOST": "127.0.0.1", "NOTIFY_EMAIL_PORT": String(try freeLoopbackPort()), "NOTIFY_EMAIL_TLS": "none",
                "NOTIFY_EMAIL_FROM": "notifications@flowmart.example", "NOTIFY_HTTP_PORT": String(listener),
            ]) { $1 })
        defer { Task { await service.shutDown() } }
        let users = (0..<50).map { "failover-\($0)" }
        try await Self.register(users, service)
        try await service.publish(users.enumerated().map { Payments.confirmed(user: $1, index: $0) })

        let ids = try await Self.waitForSES(users.count, ses)
        #expect(ids.count == users.count && Set(ids).count == users.count, "every email once through SES: \(ids.count)")
        var attempts: [Int: Int] = [:]
        let recorded = ContinuousClock.now + .seconds(30)
        while attempts.values.reduce(0, +) < users.count, ContinuousClock.now < recorded {
            try await Task.sleep(for: .milliseconds(200))
            attempts = try await service.db.withConnection { db in
                try db.query("SELECT attempts, count(*) FROM deliveries WHERE channel = 'email' AND status = 'sent' GROUP BY attempts")
                    .reduce(into: [Int: Int]()) { $0[try $1.decode(0, as: Int.self)] = try $1.decode(1, as: Int.self) }
            }
        }
        #expect(attempts == [1: users.count], "sent on the first attempt: failing over spends none")
        let delivery = try await HTTPListenerTests.get(listener, "/health/delivery")
        #expect(delivery.status == 200, "SES takes the channel's work: \(delivery.text)")
        #expect(delivery.check("provider.email").detail?.hasPrefix("ses up, smtp open: unreachable (provider)") == true, "\(delivery.text)")
        #expect(service.daemon.log.contains("provider breaker opened"))
    }

    @Test("SES failing 25 of 40 with 500s: its breaker opens, the failed wait in a tier, probes close it, all 40 go once")
    func breakerOpensAndCloses() async throws {
        let ses = try SESFake()
        let service = try await ServiceHarness(
            environment: ses.environment.merging([
                "NOTIFY_EMAIL_FROM": "notifications@flowmart.example", "NOTIFY_DELIVERY_BREAKER_OPEN_SECONDS": "1",
                "NOTIFY_DELIVERY_RETRY_SECONDS_NORMAL": "1,1,1", "NOTIFY_DELIVERY_BATCH_SIZE": "40",
            ]) { $1 })
        defer { Task { await service.shutDown() } }
        try await ses.server.cue(status: 500, count: 25)
        let users = (0..<40).map { "breaker-\($0)" }
        try await Self.register(users, service)
        try await service.publish(users.enumerated().map { Payments.confirmed(user: $1, index: $0) })

        let ids = try await Self.waitForSES(users.count, ses)
        #expect(ids.count == users.count && Set(ids).count == users.count, "every email accepted once: \(ids.count)")
        let retried = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM delivery_history WHERE status = 'failed' AND error_code = 'ses-InternalFailure'")[0]
                .decode(0, as: Int.self)
        }
        #expect(retried == 25, "the 500s were retried through a tier")
        #expect(service.daemon.log.contains("provider breaker opened"))
        #expect(service.daemon.log.contains("provider breaker closed"))
    }
}
