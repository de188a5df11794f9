import Foundation
import NotifyCore
import Postgres

/// The delivery worker's side of the deliveries table: claiming jobs before a send (as a `ClaimPlanner` decides),
/// recording what became of them after. Status only moves forward: a claim takes `queued`, `failed` (a retry) or `sending` left by a
/// daemon that died (no backend with the claiming pid is alive) to `sending`; a record only changes a delivery
/// that is `sending`. The one step back, to the state a claim takes, is a hand-back (`release`) or a sweep of an
/// abandoned claim (`sweep`), and neither spends an attempt.
extension DeliveryStore {
    /// A planner: the plan of a claim, given its jobs and what it read of the deliveries it took (`ClaimPlanner`).
    public typealias ClaimPlanning = @Sendable (_ jobs: [DeliveryJob], _ found: [ClaimFacts]) -> ClaimPlan

    /// Claims jobs of one channel in one transaction: takes their deliveries to `sending` (those `queued`, `failed`,
    /// or `sending` for a claimer that died), reads each one's attempts and its recipient's stored contact for the
    /// channel, opt-outs (and then the send's category), quiet hours and time zone, in its tenant's directory; lets
    /// `planning` decide; closes the digests the plan sends or skips and lets it compose them; then writes the plan:
    /// jobs kept for the sweeper, deliveries held or skipped (with the fallbacks of those without an address), a
    /// history entry each. Ids that are not UUIDs are `settled` (no such delivery).
    public static func claim(_ jobs: [DeliveryJob], planning: @escaping ClaimPlanning, on database: PGPool) async throws -> [DeliveryClaim]
    {
        let ids = jobs.map(\.deliveryID).filter { UUID(uuidString: $0) != nil }
        guard !ids.isEmpty else { return jobs.map { _ in .settled } }
        return try await database.transaction { db in
            var plan = planning(jobs, try claimFacts(ids, on: db))
            if !plan.closing.isEmpty {
                plan.compose(try DigestStore.close(plan.closing, on: db))
                try DigestStore.say(plan.digestContents, on: db)
            }
            try keepRedelivered(plan.kept, to: plan.exchange, on: db)
            let held = plan.held
            if !held.isEmpty {
                _ = try db.execute(
                    """
                    UPDATE deliveries SET status = 'scheduled', updated_at = now()
                    WHERE id = ANY(\(PGTextArray(held.map(\.message.messageID)))::uuid[])
                    """)
                try OutboxStore.schedule(held, on: db)
            }
            let skipped = plan.skipped
            if !skipped.isEmpty {
                _ = try db.execute(
                    """
                    UPDATE deliveries SET status = 'skipped', updated_at = now() WHERE id = ANY(\(PGTextArray(skipped))::uuid[])
                    """)
                try queueFallbacks(plan.fallbacks, to: plan.exchange, on: db)
            }
            _ = try db.copy(
                into: "delivery_history", columns: ["delivery_id", "status", "attempt", "detail"],
                rows: plan.history.map { [$0.deliveryID, $0.status.rawValue, $0.attempt, $0.detail] })
            return plan.claims
        }
    }

    /// Takes the deliveries `ids` that can be claimed to `sending` and reads what their plan decides from.
    private static func claimFacts(_ ids: [String], on db: PGConnection) throws -> [ClaimFacts] {
        // A send's category is looked up only for a user with opt-outs (none is NULL), so the common claim reads
        // no more rows than it did before preferences; quiet hours are two more columns of the row it reads.
        try db.query(
            """
            WITH claimed AS (
                UPDATE deliveries d SET status = 'sending', claimed_by = pg_backend_pid(), updated_at = now()
                WHERE d.id = ANY(\(PGTextArray(ids))::uuid[])
                  AND (d.status IN ('queued', 'failed')
                       OR (d.status = 'sending'
                           AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = d.claimed_by)))
                RETURNING d.id, d.notification_id, d.user_id, d.channel, d.attempts,
                          COALESCE(d.organization_id, d.product_id, \(Tenant.flowMart)) AS namespace)
            SELECT c.id::text, c.attempts, CASE c.channel WHEN 'email' THEN r.email WHEN 'sms' THEN r.phone
                                                          WHEN 'push' THEN r.push_tokens::text WHEN 'webhook' THEN r.webhook::text END,
                   r.opt_outs::text,
                   CASE WHEN r.opt_outs IS NOT NULL THEN (SELECT s.category FROM notifications n JOIN send_requests s ON s.id = n.request_id
                                                          WHERE n.id = c.notification_id) END,
                   r.quiet_hours::text, r.timezone
            FROM claimed c LEFT JOIN recipients r ON r.namespace = c.namespace AND r.user_id = c.user_id
            """, prepared: true
        ).map { row in
            ClaimFacts(
                deliveryID: try row.decode(0, as: String.self), attempts: try row.decode(1, as: Int.self),
                contact: try row.decodeIfPresent(2, as: String.self), optOuts: try row.decodeIfPresent(3, as: String.self),
                category: try row.decodeIfPresent(4, as: String.self), quietHours: try row.decodeIfPresent(5, as: String.self),
                timezone: try row.decodeIfPresent(6, as: String.self))
        }
    }

    /// Of `ids`, those whose send request has been cancelled (`SendStore.cancel`), lowercased: deliveries a worker
    /// claimed and then held for a rate-limit slot, which it records `cancelled` instead of sending.
    public static func cancelled(_ ids: [String], on database: PGPool) async throws -> Set<String> {
        let ids = ids.filter { UUID(uuidString: $0) != nil }
        guard !ids.isEmpty else { return [] }
        return try await database.withConnection { db in
            Set(
                try db.query(
                    """
                    SELECT d.id::text FROM deliveries d
                    JOIN notifications n ON n.id = d.notification_id
                    JOIN send_requests s ON s.id = n.request_id
                    WHERE d.id = ANY(\(PGTextArray(ids))::uuid[]) AND s.cancelled_at IS NOT NULL
                    """, prepared: true
                ).map { try $0.decode(0, as: String.self) })
        }
    }

    /// Records what became of claimed deliveries, in one transaction: status, attempts, the provider's id (and
    /// a hash of the address a sent one went to), the last error, and a history entry each.
    /// - Parameter fallbacks: jobs on fallback channels to queue with it (through the outbox, to `workExchange`),
    ///   for deliveries that are dead.
    /// - Parameter archived: the parked copies of dead deliveries that the dead-letter queue refused, written to the
    ///   archive with their record (`ListParked` lists them, `RedriveParked` sends them again).
    public static func record(
        _ transitions: [DeliveryTransition], fallbacks: [DeliveryJob] = [], workExchange: String = "", archived: [ParkedMessage] = [],
        on database: PGPool
    ) async throws {
        guard !transitions.isEmpty else { return }
        try await database.transaction { db in
            try queueFallbacks(fallbacks, to: workExchange, on: db)
            try ParkedStore.insert(archived, on: db)
            _ = try db.execute(
                """
                UPDATE deliveries d SET status = t.status, attempts = t.attempt::integer, updated_at = now(),
                    provider_message_id = COALESCE(t.provider, d.provider_message_id),
                    address_hash = COALESCE(encode(sha256(convert_to(t.address, 'UTF8')), 'hex'), d.address_hash),
                    last_error_code = COALESCE(t.code, d.last_error_code), last_error_class = COALESCE(t.class, d.last_error_class),
                    last_error_detail = COALESCE(t.detail, d.last_error_detail)
                FROM unnest(\(PGTextArray(transitions.map(\.deliveryID)))::uuid[],
                            \(PGTextArray(transitions.map(\.status.rawValue)))::text[],
                            \(PGTextArray(transitions.map { String($0.attempt) }))::text[],
                            \(PGTextArray(transitions.map(\.providerMessageID)))::text[],
                            \(PGTextArray(transitions.map(\.address)))::text[],
                            \(PGTextArray(transitions.map { $0.failure?.code }))::text[],
                            \(PGTextArray(transitions.map { $0.failure?.failureClass.rawValue }))::text[],
                            \(PGTextArray(transitions.map { $0.failure?.detail }))::text[])
                     AS t(id, status, attempt, provider, address, code, class, detail)
                WHERE d.id = t.id AND d.status = 'sending'
                """)
            _ = try db.copy(
                into: "delivery_history", columns: ["delivery_id", "status", "attempt", "error_code", "error_class", "detail"],
                rows: transitions.map {
                    [
                        $0.deliveryID, $0.status.rawValue, $0.attempt, $0.failure?.code, $0.failure?.failureClass.rawValue,
                        $0.failure?.detail ?? $0.providerMessageID.map { "accepted as \($0)" },
                    ]
                })
        }
    }

    /// Writes deliveries on fallback channels, `queued`, with their jobs in the outbox, in the caller's
    /// transaction; a notification that already has a delivery on that channel (a repeated claim or record) gets
    /// none.
    static func queueFallbacks(_ jobs: [DeliveryJob], to exchange: String, on db: PGConnection) throws {
        guard !jobs.isEmpty else { return }
        let inserted = Set(
            try db.query(
                """
                INSERT INTO deliveries (id, notification_id, user_id, channel, status, product_id, organization_id)
                SELECT i, n, u, c, 'queued', p, o FROM unnest(\(PGTextArray(jobs.map(\.deliveryID)))::uuid[],
                                                      \(PGTextArray(jobs.map(\.notificationID)))::uuid[],
                                                      \(PGTextArray(jobs.map(\.userID)))::text[],
                                                      \(PGTextArray(jobs.map(\.channel.rawValue)))::text[],
                                                      \(PGTextArray(jobs.map { $0.tenant?.productID.uuidString }))::uuid[],
                                                      \(PGTextArray(jobs.map { $0.tenant?.organizationID?.uuidString }))::uuid[]) AS f(i, n, u, c, p, o)
                ON CONFLICT (notification_id, channel) DO NOTHING
                RETURNING id::text
                """
            ).map { try $0.decode(0, as: String.self) })
        let queued = jobs.filter { inserted.contains($0.deliveryID.lowercased()) }
        guard !queued.isEmpty else { return }
        _ = try db.copy(
            into: "delivery_history", columns: ["delivery_id", "status", "detail"],
            rows: queued.map { [$0.deliveryID, DeliveryStatus.queued.rawValue, "fallback"] })
        try OutboxStore.enqueue(queued.map { OutboxMessage($0, exchange: exchange) }, on: db)
    }
}
