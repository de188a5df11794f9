import AMQP
import Foundation
import Postgres
import StackSupport
import Testing

/// Nothing a worker gives up on is lost: a batch handed back at shutdown, a parked copy the dead-letter queue
/// refuses, a claim abandoned unreleased. Against real daemons, each with an SMTP peer of its own.
@Suite("Hand-backs: nothing a worker gives up on stays sending", .needsStack)
struct HandBackTests {
    /// Breakers that probe every second or two, so a server's return is noticed within a test's wait.
    static let fastBreaker = ["NOTIFY_DELIVERY_BREAKER_OPEN_SECONDS": "1", "NOTIFY_DELIVERY_BREAKER_MAX_OPEN_SECONDS": "2"]

    /// The email delivery of each of `users`, by status, read from the database.
    static func statuses(_ service: ServiceHarness) async throws -> [String: Int] {
        try await service.db.withConnection { db in
            Dictionary(
                try db.query("SELECT status, count(*) FROM deliveries GROUP BY status").map {
                    (try $0.decode(0, as: String.self), try $0.decode(1, as: Int.self))
                }
            ) { $1 }
        }
    }

    @Test("two daemons, SMTP down, SIGTERM to one holding a batch: once SMTP is back every email arrives, each once")
    func shutdownHandsBack() async throws {
        let peer = try SMTPPeer(port: try freeLoopbackPort())
        peer.kill()
        let count = 40
        // More workers than the jobs make batches: the daemon that stays has idle workers to take what the other hands back.
        let service = try await EmailFaultTests.service(
            peer, recipients: count, environment: Self.fastBreaker.merging(["NOTIFY_DELIVERY_WORKERS": "16"]) { $1 })
        defer { Task { await service.shutDown() } }
        let second = try DaemonProcess(environment: service.environment)
        defer { second.stop() }
        try #require(await second.waitForLog("ready"), "\(second.log.suffix(1000))")
        try await service.publish((0..<count).map { Payments.confirmed(user: "user-\($0)", index: $0) })
        // The lane's jobs are spread over both daemons' consumers: each holds a batch, its other workers idle.
        #expect(await service.daemon.waitForLog("provider is down; holding its deliveries"), "\(service.daemon.log.suffix(2000))")
        #expect(await second.waitForLog("provider is down; holding its deliveries"), "\(second.log.suffix(2000))")
        let sending = try await Self.statuses(service)["sending"] ?? 0
        service.daemon.signal(SIGTERM)
        #expect(await service.daemon.waitForExit(timeout: .seconds(20)) == 0)
        try peer.start()
        let (distinct, total) = await EmailFaultTests.waitForReceived(count, peer, timeout: .seconds(90))
        #expect(
            distinct == count && total == count,
            "\(distinct) of \(count) emails arrived, \(total - distinct) twice; \(sending) were sending at the SIGTERM")
        #expect(try await Self.statuses(service) == ["sent": count])
        let handedBack = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM delivery_history WHERE detail = 'handed back: not sent before shutdown'")[0].decode(
                0, as: Int.self)
        }
        #expect(handedBack > 0, "the daemon that stopped was holding a batch")
    }

    @Test("a 550 while the dead-letter queue refuses every copy (full, reject-publish): dead and listed, not sending for ever")
    func parkRefused() async throws {
        let service = try await ServiceHarness(environment: EmailDeliveryTests.smtpEnvironment)
        defer {
            _ = try? StackControl.rabbitmqctl("clear_policy", service.deadLetterPolicy)
            Task { await service.shutDown() }
        }
        #expect(try service.limitDeadLetterQueue(#"{"max-length":1,"overflow":"reject-publish"}"#))
        // Fill the queue until the broker refuses a copy: the policy reaches a quorum queue a moment after it is set.
        let filler = AMQPOutgoingMessage(
            routingKey: service.deadLetterQueue, body: Array("filler".utf8), properties: AMQPProperties(persistent: true))
        let full = await eventually(timeout: .seconds(30)) { (try? await service.publisher.publish([filler])) == [.nacked] }
        #expect(full, "the dead-letter queue never refused a message")
        let fillers = try await service.parkedCount()
        let user = "user-\(service.id)"
        #expect(try await service.call("UpsertRecipient", ["userId": user, "email": "reject-\(service.id)@example.com"]).status == 200)
        try await service.publish([Payments.confirmed(user: user, index: 1)])
        let dead = try await EmailDeliveryTests.delivery(of: user, service, until: "dead", timeout: .seconds(60))
        #expect(dead["attempts"] as? Int == 1 && (dead["lastError"] as? [String: Any])?["code"] as? String == "smtp-550")
        let entry = try #require(try await EmailDeliveryTests.parked(service, count: 1, kind: "delivery").first)
        #expect(entry["deliveryId"] as? String == dead["deliveryId"] as? String && entry["reason"] as? String == "undeliverable")
        #expect((entry["detail"] as? String)?.contains("550") == true)
        #expect(service.daemon.log.contains("the dead-letter queue did not take parked deliveries; archiving them with their record"))
        #expect(try await service.parkedCount() == fillers, "only the fillers are on the queue")
        #expect(try await Self.statuses(service) == ["dead": 1], "recorded once, never handed back")
    }

    @Test("a claim abandoned unreleased, its claimer still connected: the job that comes back is kept, swept, and sent once")
    func abandonedClaimSwept() async throws {
        let peer = try SMTPPeer(port: try freeLoopbackPort())
        peer.kill()
        let service = try await EmailFaultTests.service(
            peer, recipients: 1, environment: Self.fastBreaker.merging(["NOTIFY_DELIVERY_SWEEP_INTERVAL_SECONDS": "1"]) { $1 })
        defer { Task { await service.shutDown() } }
        try await service.publish([Payments.confirmed(user: "user-0", index: 0)])
        #expect(await service.daemon.waitForLog("provider is down; holding its deliveries"))
        // What a hand-back the database missed leaves: `sending`, claimed by a connection that is still alive (the
        // test's own), for longer than the bound (30 min by default).
        let claimer = try await service.db.withConnection { try $0.query("SELECT pg_backend_pid()")[0].decode(0, as: Int.self) }
        let marked = try await service.db.withConnection { db in
            try db.execute(
                """
                UPDATE deliveries SET claimed_by = \(claimer), updated_at = now() - interval '1 hour'
                WHERE user_id = 'user-0' AND status = 'sending'
                """)
        }
        #expect(marked == 1)
        // The daemon dies holding the job: the broker gives it to the next daemon, whose claim finds it held.
        service.daemon.signal(SIGKILL)
        _ = await service.daemon.waitForExit(timeout: .seconds(10))
        try await service.restartDaemon()
        let swept = await eventually(timeout: .seconds(30)) {
            let details = try? await service.db.withConnection { db in
                try db.query("SELECT detail FROM delivery_history WHERE detail LIKE 'swept:%'").map { try $0.decode(0, as: String.self) }
            }
            return details?.count == 1
        }
        #expect(swept, "\(service.daemon.log.suffix(3000))")
        #expect(service.daemon.log.contains("swept deliveries left sending by an abandoned claim"))
        try peer.start()
        let email = try await EmailDeliveryTests.delivery(of: "user-0", service, until: "sent", timeout: .seconds(60))
        #expect(email["attempts"] as? Int == 1, "neither the outage nor the sweep spent an attempt")
        #expect(await EmailFaultTests.waitForReceived(1, peer, timeout: .seconds(10)) == (1, 1))
        let kept = try await service.db.withConnection { try $0.query("SELECT count(*) FROM redelivered_jobs")[0].decode(0, as: Int.self) }
        #expect(kept == 0, "the kept job went out with the sweep")
    }
}
