import Foundation
import Postgres
import StackSupport
import Testing

/// The retention job against the real database: rows past their horizon go, in batches; recent rows, deliveries
/// still under way and (by default) the audit trail stay.
@Suite("Retention", .needsStack, .serialized)
struct RetentionTests {
    @Test(
        "old deduplication rows, finished deliveries with their history and receipts, closed digests and passed rate limits go; recent ones, unfinished deliveries and the audit trail stay"
    )
    func prunes() async throws {
        let port = try freeLoopbackPort()
        let service = try await ServiceHarness(environment: [
            "NOTIFY_HTTP_PORT": String(port), "NOTIFY_RETENTION_INTERVAL_SECONDS": "1", "NOTIFY_RETENTION_BATCH_SIZE": "100",
            "NOTIFY_RETENTION_INBOX_DAYS": "14",
            "NOTIFY_RETENTION_DELIVERY_DAYS": "30",
        ])
        defer { Task { await service.shutDown() } }
        let tag = "retention-\(service.id)"
        let (old, recent, busy) = (UUID(), UUID(), UUID())
        try await service.db.withConnection { db in
            // 250 old deduplication rows (three batches) and one recent.
            _ = try db.query(
                """
                INSERT INTO inbox (consumer, message_key, received_at)
                SELECT \(tag), 'old-' || i, now() - interval '20 days' FROM generate_series(1, 250) i
                """)
            _ = try db.query("INSERT INTO inbox (consumer, message_key) VALUES (\(tag), 'recent')")
            for (id, status, age) in [(old, "sent", 40), (recent, "sent", 1), (busy, "failed", 40)] {
                _ = try db.query(
                    """
                    INSERT INTO deliveries (id, notification_id, user_id, channel, status, created_at)
                    VALUES (\(id), gen_random_uuid(), \(tag), 'email', \(status), now() - make_interval(days => \(age)))
                    """)
                _ = try db.query("INSERT INTO delivery_history (delivery_id, status) VALUES (\(id), \(status))")
                _ = try db.query(
                    """
                    INSERT INTO delivery_receipts (delivery_id, provider, provider_message_id, provider_status, status)
                    VALUES (\(id), 'ses', 'm', 'Delivery', 'delivered')
                    """)
            }
            _ = try db.query(
                """
                INSERT INTO digests (id, delivery_id, namespace, user_id, channel, kind, max_items, due_at, closed_at)
                VALUES (gen_random_uuid(), gen_random_uuid(), gen_random_uuid(), \(tag), 'email', 'k', 5, now() - interval '40 days',
                        now() - interval '40 days')
                """)
            _ = try db.query(
                "INSERT INTO rate_limits (key, tat) VALUES (\(tag + "-passed"), now() - interval '2 hours'), (\(tag + "-live"), now())")
            _ = try db.query(
                """
                INSERT INTO audit_events (at, actor, entity, action, outcome) VALUES (now() - interval '400 days', 'admin', \(tag), 'old', 'ok')
                """)
        }
        func counts() async throws -> [Int] {
            try await service.db.withConnection { db in
                let row = try db.query(
                    """
                    SELECT (SELECT count(*) FROM inbox WHERE consumer = \(tag)),
                           (SELECT count(*) FROM deliveries WHERE user_id = \(tag)),
                           (SELECT count(*) FROM delivery_history WHERE delivery_id IN (\(old), \(recent), \(busy))),
                           (SELECT count(*) FROM delivery_receipts WHERE delivery_id IN (\(old), \(recent), \(busy))),
                           (SELECT count(*) FROM digests WHERE user_id = \(tag)),
                           (SELECT count(*) FROM rate_limits WHERE key LIKE \(tag + "%")),
                           (SELECT count(*) FROM audit_events WHERE entity = \(tag))
                    """)[0]
                return try (0..<7).map { try row.decode($0, as: Int.self) }
            }
        }
        let expected = [1, 2, 2, 2, 0, 1, 1]
        let deadline = ContinuousClock.now + .seconds(90)
        var seen = try await counts()
        while seen != expected, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(500))
            seen = try await counts()
        }
        #expect(seen == expected, "inbox, deliveries, history, receipts, digests, rate limits, audit: \(seen)")
        let left = try await service.db.withConnection { db in
            try db.query("SELECT id::text FROM deliveries WHERE user_id = \(tag) ORDER BY id").map { try $0.decode(0, as: String.self) }
        }
        #expect(
            Set(left) == [recent.uuidString.lowercased(), busy.uuidString.lowercased()], "the recent one and the one still retrying stay")
        #expect(service.daemon.log.contains("retention pruned"))
        let metrics = try await SendHTTPTests.call(port, .GET, "/metrics", key: nil).text
        #expect(metrics.contains("notify_retention_deleted_rows_total{table=\"inbox\"} 250"), "\(metrics.prefix(300))")
    }

    @Test("the audit trail is kept for ever by default; with retention.auditDays, rows older go and newer stay")
    func auditRetention() async throws {
        let service = try await ServiceHarness(environment: [
            "NOTIFY_RETENTION_INTERVAL_SECONDS": "1", "NOTIFY_RETENTION_AUDIT_DAYS": "365",
        ])
        defer { Task { await service.shutDown() } }
        let tag = "audit-\(service.id)"
        try await service.db.withConnection { db in
            _ = try db.query(
                """
                INSERT INTO audit_events (at, actor, entity, action, outcome)
                VALUES (now() - interval '400 days', 'admin', \(tag), 'old', 'ok'), (now() - interval '300 days', 'admin', \(tag), 'kept', 'ok')
                """)
        }
        let deadline = ContinuousClock.now + .seconds(60)
        var actions: [String] = []
        repeat {
            try await Task.sleep(for: .milliseconds(500))
            actions = try await service.db.withConnection { db in
                try db.query("SELECT action FROM audit_events WHERE entity = \(tag)").map { try $0.decode(0, as: String.self) }
            }
        } while actions.count > 1 && ContinuousClock.now < deadline
        #expect(actions == ["kept"])
    }
}
