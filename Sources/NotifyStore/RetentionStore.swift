import Foundation
import NotifyCore
import Postgres

/// Retention: what the tables keep, pruned in small batches (each its own short statement, so no lock is held long
/// and replication is never flooded) by one daemon at a time (a session advisory lock; the others skip the round).
public enum RetentionStore {
    /// How long each kind of row is kept, in days; 0 keeps it for ever.
    public struct Horizons: Sendable, Equatable {
        /// Deduplication rows of consumed events: longer than any redelivery can come late.
        public var inboxDays: Int
        /// Finished deliveries (sent, delivered, undelivered, bounced, dead, skipped, cancelled, digested) with their
        /// history and receipts, and digests closed that long ago. Deliveries still under way are never pruned.
        public var deliveryDays: Int
        /// The audit trail.
        public var auditDays: Int

        public init(inboxDays: Int, deliveryDays: Int, auditDays: Int) {
            self.inboxDays = inboxDays
            self.deliveryDays = deliveryDays
            self.auditDays = auditDays
        }
    }

    /// Rows removed by one round, by table.
    public typealias Pruned = [String: Int]

    /// The class of the retention job's advisory lock ("RETN").
    private static let lockClass = 0x5245_544E

    /// One round: each table's rows past its horizon, `batch` at a time until a batch comes back short (or
    /// `maxBatches` for the table). Nil when another daemon is pruning.
    public static func prune(_ horizons: Horizons, batch: Int, maxBatches: Int, on db: PGConnection) throws -> Pruned? {
        guard try db.query("SELECT pg_try_advisory_lock(\(lockClass)::integer, 0)")[0].decode(0, as: Bool.self) else { return nil }
        defer { _ = try? db.query("SELECT pg_advisory_unlock(\(lockClass)::integer, 0)") }
        var pruned: Pruned = [:]
        func repeatedly(_ table: String, _ statement: () throws -> Int) throws {
            for _ in 0..<maxBatches {
                let removed = try statement()
                pruned[table, default: 0] += removed
                if removed < batch { return }
            }
        }
        if horizons.inboxDays > 0 {
            try repeatedly("inbox") {
                try db.query(
                    """
                    DELETE FROM inbox WHERE ctid = ANY(ARRAY(
                        SELECT ctid FROM inbox WHERE received_at < now() - make_interval(days => \(horizons.inboxDays)) LIMIT \(batch)))
                    """, prepared: true
                ).affectedRows
            }
        }
        if horizons.deliveryDays > 0 {
            let finished = PGTextArray(DeliveryStatus.finished.map(\.rawValue))
            try repeatedly("deliveries") {
                try db.query(
                    """
                    WITH gone AS (
                        DELETE FROM deliveries WHERE id IN (
                            SELECT id FROM deliveries
                            WHERE created_at < now() - make_interval(days => \(horizons.deliveryDays)) AND status = ANY(\(finished)::text[])
                            LIMIT \(batch))
                        RETURNING id),
                    history AS (DELETE FROM delivery_history WHERE delivery_id IN (SELECT id FROM gone)),
                    receipts AS (DELETE FROM delivery_receipts WHERE delivery_id IN (SELECT id FROM gone))
                    SELECT count(*) FROM gone
                    """, prepared: true)[0].decode(0, as: Int.self)
            }
            try repeatedly("digests") {
                try db.query(
                    """
                    DELETE FROM digests WHERE id IN (
                        SELECT id FROM digests WHERE closed_at < now() - make_interval(days => \(horizons.deliveryDays)) LIMIT \(batch))
                    """, prepared: true
                ).affectedRows
            }
        }
        if horizons.auditDays > 0 {
            try repeatedly("audit_events") {
                try db.query(
                    """
                    DELETE FROM audit_events WHERE id IN (
                        SELECT id FROM audit_events WHERE at < now() - make_interval(days => \(horizons.auditDays)) ORDER BY at LIMIT \(batch))
                    """, prepared: true
                ).affectedRows
            }
        }
        // A schedule whose time has passed means the same as no row (`RateLimitStore`): an hour later it is safe to drop.
        try repeatedly("rate_limits") {
            try db.query(
                """
                DELETE FROM rate_limits WHERE ctid = ANY(ARRAY(SELECT ctid FROM rate_limits WHERE tat < now() - interval '1 hour' LIMIT \(batch)))
                """, prepared: true
            ).affectedRows
        }
        return pruned
    }
}
