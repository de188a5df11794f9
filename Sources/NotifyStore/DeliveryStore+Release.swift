import Foundation
import NotifyCore
import Postgres

/// Claims given up: a worker's hand-back, and the sweep of claims abandoned unreleased (`ClaimSweep`). Both take a
/// `sending` delivery back to the state a claim takes — `queued` before its first attempt, `failed` after one —
/// with its attempts as they were and a history entry that says why.
extension DeliveryStore {
    /// Releases deliveries a worker claimed and hands back unrecorded (their jobs go back to the broker), so the
    /// next claim takes them: a shutdown holding a batch, a retry copy the broker did not confirm. A job of theirs
    /// that came back meanwhile and was kept (the worker's connection dropped, so its hand-back reaches nobody) goes
    /// into the outbox in the same statement: the delivery is never left claimable with no job. Returns how many it
    /// released.
    @discardableResult
    public static func release(_ ids: [String], reason: String, on database: PGPool) async throws -> Int {
        let ids = ids.filter { UUID(uuidString: $0) != nil }
        guard !ids.isEmpty else { return 0 }
        return try await database.withConnection { db in
            try db.query(
                """
                WITH released AS (
                    UPDATE deliveries SET status = CASE WHEN attempts = 0 THEN 'queued' ELSE 'failed' END, claimed_by = NULL,
                                          updated_at = now()
                    WHERE id = ANY(\(PGTextArray(ids))::uuid[]) AND status = 'sending'
                    RETURNING id, status, attempts),
                history AS (
                    INSERT INTO delivery_history (delivery_id, status, attempt, detail)
                    SELECT id, status, attempts, \("handed back: " + reason) FROM released),
                kept AS (DELETE FROM redelivered_jobs j USING released r WHERE j.delivery_id = r.id RETURNING j.*),
                requeued AS (
                    INSERT INTO outbox (message_id, exchange, routing_key, type, version, correlation_id, body, priority)
                    SELECT message_id, exchange, routing_key, type, version, correlation_id, body, priority FROM kept
                    ON CONFLICT (message_id) DO NOTHING)
                SELECT count(*) FROM released
                """, prepared: true)[0].decode(0, as: Int.self)
        }
    }

    /// Keeps, in the claim's transaction, the jobs of deliveries another claim holds (`sending`), each delivery's
    /// first: published again by `sweep` if that claim turns out abandoned, dropped by it once the delivery moved on.
    static func keepRedelivered(_ jobs: [DeliveryJob], to exchange: String, on db: PGConnection) throws {
        guard !jobs.isEmpty else { return }
        let messages = jobs.map { OutboxMessage($0, exchange: exchange) }
        _ = try db.query(
            """
            INSERT INTO redelivered_jobs (delivery_id, message_id, exchange, routing_key, type, version, correlation_id, body, priority)
            SELECT d.id, j.m, j.x, j.r, j.t, j.v, j.c, j.b, j.p
            FROM unnest(\(PGTextArray(messages.map(\.messageID)))::uuid[], \(PGTextArray(messages.map(\.messageID)))::text[],
                        \(PGTextArray(messages.map(\.exchange)))::text[], \(PGTextArray(messages.map(\.routingKey)))::text[],
                        \(PGTextArray(messages.map(\.type)))::text[], \(PGTextArray(messages.map(\.version)))::text[],
                        \(PGTextArray(messages.map(\.correlationID)))::text[], \(PGTextArray(messages.map(\.body)))::text[],
                        \(PGTextArray(messages.map { String($0.priority) }))::smallint[]) AS j(i, m, x, r, t, v, c, b, p)
            JOIN deliveries d ON d.id = j.i AND d.status = 'sending'
            ON CONFLICT (delivery_id) DO NOTHING
            """, prepared: true)
    }

    /// What one sweep round found and did.
    public struct Sweep: Sendable, Equatable {
        /// Deliveries `sending` longer than the bound whose job came back (what the round could sweep), up to the
        /// round's cap.
        public var stuck: Int
        /// Of those, made claimable again with their job queued in the outbox.
        public var swept: Int
    }

    /// One round, in one transaction: each delivery `sending` for longer than `policy.staleAfterSeconds` whose job
    /// was kept (up to `policy.batchSize`, `SKIP LOCKED`, so daemons sweeping at once take different rows) goes back
    /// to the state a claim takes, with a history entry, and its job into the outbox; kept jobs of deliveries claimable
    /// again are published too, and those of deliveries that need no job are dropped.
    public static func sweep(_ policy: ClaimSweep, on database: PGPool) async throws -> Sweep {
        try await database.transaction { db in
            let stuck = try db.query(
                """
                SELECT count(*) FROM (
                    SELECT 1 FROM redelivered_jobs j JOIN deliveries d ON d.id = j.delivery_id
                    WHERE d.status = 'sending' AND d.updated_at < now() - make_interval(secs => \(policy.staleAfterSeconds)) LIMIT 100000) s
                """, prepared: true)[0].decode(0, as: Int.self)
            let swept = try db.query(
                """
                WITH stale AS (
                    SELECT d.id FROM redelivered_jobs j JOIN deliveries d ON d.id = j.delivery_id
                    WHERE d.status = 'sending' AND d.updated_at < now() - make_interval(secs => \(policy.staleAfterSeconds))
                    ORDER BY d.updated_at LIMIT \(policy.batchSize) FOR UPDATE OF d SKIP LOCKED),
                released AS (
                    UPDATE deliveries d SET status = CASE WHEN d.attempts = 0 THEN 'queued' ELSE 'failed' END, claimed_by = NULL,
                                            updated_at = now()
                    FROM stale WHERE d.id = stale.id
                    RETURNING d.id, d.status, d.attempts),
                history AS (
                    INSERT INTO delivery_history (delivery_id, status, attempt, detail)
                    SELECT id, status, attempts, \("swept: sending for longer than \(policy.staleAfterSeconds) s") FROM released),
                jobs AS (DELETE FROM redelivered_jobs j USING released r WHERE j.delivery_id = r.id RETURNING j.*)
                INSERT INTO outbox (message_id, exchange, routing_key, type, version, correlation_id, body, priority)
                SELECT message_id, exchange, routing_key, type, version, correlation_id, body, priority FROM jobs ORDER BY priority
                ON CONFLICT (message_id) DO NOTHING
                """, prepared: true
            ).affectedRows
            // A kept job whose delivery is claimable again (released while its job was being kept) is published, not
            // dropped: a second job is harmless (the claim settles it), no job at all would lose the delivery.
            _ = try db.query(
                """
                WITH claimable AS (
                    DELETE FROM redelivered_jobs j USING deliveries d
                    WHERE d.id = j.delivery_id AND d.status IN ('queued', 'failed') RETURNING j.*)
                INSERT INTO outbox (message_id, exchange, routing_key, type, version, correlation_id, body, priority)
                SELECT message_id, exchange, routing_key, type, version, correlation_id, body, priority FROM claimable
                ON CONFLICT (message_id) DO NOTHING
                """, prepared: true)
            // The rest belong to deliveries that moved on to a state needing no job (sent, dead, scheduled...).
            _ = try db.query(
                """
                DELETE FROM redelivered_jobs j WHERE NOT EXISTS (
                    SELECT 1 FROM deliveries d WHERE d.id = j.delivery_id AND d.status = 'sending')
                """, prepared: true)
            return Sweep(stuck: stuck, swept: swept)
        }
    }
}
