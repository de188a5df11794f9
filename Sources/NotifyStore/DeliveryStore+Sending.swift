import Foundation
import NotifyCore
import Postgres

/// The delivery worker's side of the deliveries table: claiming jobs before a send, recording what became of
/// them after. Status only moves forward: a claim takes `queued`, `failed` (a retry) or `sending` left by a
/// daemon that died (no backend with the claiming pid is alive) to `sending`; a record only changes a delivery
/// that is `sending`. The one step back, to the state a claim takes, is a hand-back (`release`) or a sweep of an
/// abandoned claim (`sweep`), and neither spends an attempt.
extension DeliveryStore {
    /// What a claim found for one job.
    public enum Claim: Sendable, Equatable {
        /// Send it to this address; `attempt` counts from 1.
        case send(ClaimedDelivery)
        /// The recipient has no address for the channel (`no-address`) or opted out of it (`opted-out`, `OptOut`):
        /// recorded `skipped` with that reason in the claim.
        case skipped
        /// The recipient is in their quiet hours (`QuietHours`): the delivery is `scheduled` again, its job held until
        /// the window ends.
        case held
        /// Already sent, dead, skipped or unknown, or being sent by a live daemon (a duplicate copy, a redelivery
        /// after a lost connection): nothing to do now. The job of one being sent is kept for the sweeper, in case
        /// that claim was abandoned.
        case settled
    }

    /// Claims jobs of one channel in one transaction, reading each recipient's current address for it, in its
    /// tenant's directory (for push,
    /// the recipient's push tokens as their JSON array, `[{platform, token}]`; for webhooks, the endpoint as stored,
    /// none when it is disabled). Ids that are not UUIDs are
    /// `settled` (no such delivery).
    /// - Parameter fallbacks: by delivery id, the job to queue (through the outbox, to `workExchange`) when that
    ///   delivery turns out to have no address: its rule's fallback channel.
    public static func claim(
        _ jobs: [DeliveryJob], fallbacks: [String: DeliveryJob] = [:], workExchange: String = "", on database: PGPool
    ) async throws -> [Claim] {
        let ids = jobs.map(\.deliveryID).filter { UUID(uuidString: $0) != nil }
        guard !ids.isEmpty else { return jobs.map { _ in .settled } }
        let byID = Dictionary(jobs.map { ($0.deliveryID.lowercased(), $0) }) { first, _ in first }
        let now = Date()
        let found: [String: Found] = try await database.transaction { db in
            // A send's category is looked up only for a user with opt-outs (none is NULL), so the common claim reads
            // no more rows than it did before preferences; quiet hours are two more columns of the row it reads.
            let rows = try db.query("""
                WITH claimed AS (
                    UPDATE deliveries d SET status = 'sending', claimed_by = pg_backend_pid(), updated_at = now()
                    WHERE d.id = ANY(\(PGTextArray(ids))::uuid[])
                      AND (d.status IN ('queued', 'failed')
                           OR (d.status = 'sending'
                               AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = d.claimed_by)))
                    RETURNING d.id, d.notification_id, d.user_id, d.channel, d.attempts,
                              COALESCE(d.organization_id, d.product_id, \(Tenant.flowMart)) AS namespace)
                SELECT c.id::text, c.attempts, CASE c.channel WHEN 'email' THEN r.email WHEN 'sms' THEN r.phone
                                                 WHEN 'push' THEN NULLIF(r.push_tokens::text, '[]')
                                                 WHEN 'webhook' THEN CASE WHEN r.webhook->>'disabled' IS NULL THEN r.webhook::text END END,
                       r.opt_outs::text,
                       CASE WHEN r.opt_outs IS NOT NULL THEN (SELECT s.category FROM notifications n JOIN send_requests s ON s.id = n.request_id
                                                              WHERE n.id = c.notification_id) END,
                       r.quiet_hours::text, r.timezone
                FROM claimed c LEFT JOIN recipients r ON r.namespace = c.namespace AND r.user_id = c.user_id
                """, prepared: true)
            var found: [String: Found] = [:]
            for row in rows {
                let id = try row.decode(0, as: String.self)
                let address = try row.decodeIfPresent(2, as: String.self)
                var skip: String? = address == nil ? "no-address" : nil
                if skip == nil, let job = byID[id], let optOuts = try row.decodeIfPresent(3, as: String.self),
                   OptOut.suppresses(OptOut.list(json: optOuts), job: job, category: try row.decodeIfPresent(4, as: String.self)) {
                    skip = "opted-out"
                }
                var heldUntil: Date?
                if skip == nil, let job = byID[id], let window = try row.decodeIfPresent(5, as: String.self).flatMap(QuietHours.parse(stored:)) {
                    heldUntil = window.deferral(of: job, at: now, timezone: try row.decodeIfPresent(6, as: String.self))
                }
                found[id] = Found(attempts: try row.decode(1, as: Int.self), address: address, skip: skip, heldUntil: heldUntil)
            }
            try composeDigests(&found, jobs: byID, on: db)
            // A job for a delivery another live claim holds is acked, but kept: if that claim was abandoned, the
            // sweeper publishes it again (`sweep`).
            try keepRedelivered(byID.filter { found[$0.key] == nil && UUID(uuidString: $0.key) != nil }.map(\.value), to: workExchange, on: db)
            let held = found.compactMap { id, claim in
                claim.heldUntil.flatMap { due in byID[id].map { ScheduledMessage(due: due, message: OutboxMessage($0, exchange: workExchange)) } }
            }
            if !held.isEmpty {
                _ = try db.execute("""
                    UPDATE deliveries SET status = 'scheduled', updated_at = now()
                    WHERE id = ANY(\(PGTextArray(held.map(\.message.messageID)))::uuid[])
                    """)
                try OutboxStore.schedule(held, on: db)
            }
            let skipped = found.filter { $0.value.skip != nil }.map(\.key)
            if !skipped.isEmpty {
                _ = try db.execute("""
                    UPDATE deliveries SET status = 'skipped', updated_at = now() WHERE id = ANY(\(PGTextArray(skipped))::uuid[])
                    """)
                // A channel opted out of does not pass to the rule's fallback: the user said no, not "elsewhere".
                let unreachable = found.filter { $0.value.skip == "no-address" }.map(\.key)
                try queueFallbacks(unreachable.compactMap { fallbacks[$0] }, to: workExchange, on: db)
            }
            _ = try db.copy(
                into: "delivery_history", columns: ["delivery_id", "status", "attempt", "detail"],
                rows: found.map { id, claim in
                    if let due = claim.heldUntil {
                        return [id, DeliveryStatus.scheduled.rawValue, claim.attempts, "quiet-hours until \(RFC3339.string(from: due))"]
                    }
                    return claim.skip == nil ? [id, DeliveryStatus.sending.rawValue, claim.attempts + 1, nil]
                        : [id, DeliveryStatus.skipped.rawValue, claim.attempts, claim.skip]
                })
            return found
        }
        return jobs.map { job in
            guard let claim = found[job.deliveryID.lowercased()] else { return .settled }
            if claim.heldUntil != nil { return .held }
            guard claim.skip == nil, let address = claim.address else { return .skipped }
            var job = job
            if let content = claim.content { job.content = content }
            return .send(ClaimedDelivery(job: job, address: address, attempt: claim.attempts + 1))
        }
    }

    /// What a claim found for one delivery: its attempts so far, the recipient's address, why it is skipped, until
    /// when quiet hours hold it, and what a digest says.
    private struct Found {
        var attempts: Int
        var address: String?
        var skip: String?
        var heldUntil: Date?
        var content: MessageContent?
    }

    /// The digests among the claimed deliveries that leave now (not held): closed, their items settled
    /// (`DigestStore.close`), and what each says put into its claim; one whose items were all cancelled is skipped
    /// (`empty-digest`).
    private static func composeDigests(_ found: inout [String: Found], jobs: [String: DeliveryJob], on db: PGConnection) throws {
        let leaving = found.compactMap { id, claim in jobs[id].flatMap { $0.isDigest && claim.heldUntil == nil ? (id, $0, claim) : nil } }
        guard !leaving.isEmpty else { return }
        let contents = try DigestStore.close(
            leaving.map { ($0.1.notificationID.lowercased(), $0.1.channel) },
            skips: Dictionary(leaving.compactMap { _, job, claim in claim.skip.map { (job.notificationID.lowercased(), $0) } }) { first, _ in first },
            on: db)
        for (id, job, claim) in leaving where claim.skip == nil {
            if let content = contents[job.notificationID.lowercased()] {
                found[id]?.content = content
            } else {
                found[id]?.skip = "empty-digest"
            }
        }
    }

    /// Of `ids`, those whose send request has been cancelled (`SendStore.cancel`), lowercased: deliveries a worker
    /// claimed and then held for a rate-limit slot, which it records `cancelled` instead of sending.
    public static func cancelled(_ ids: [String], on database: PGPool) async throws -> Set<String> {
        let ids = ids.filter { UUID(uuidString: $0) != nil }
        guard !ids.isEmpty else { return [] }
        return try await database.withConnection { db in
            Set(try db.query("""
                SELECT d.id::text FROM deliveries d
                JOIN notifications n ON n.id = d.notification_id
                JOIN send_requests s ON s.id = n.request_id
                WHERE d.id = ANY(\(PGTextArray(ids))::uuid[]) AND s.cancelled_at IS NOT NULL
                """, prepared: true).map { try $0.decode(0, as: String.self) })
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
            _ = try db.execute("""
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
                    [$0.deliveryID, $0.status.rawValue, $0.attempt, $0.failure?.code, $0.failure?.failureClass.rawValue,
                     $0.failure?.detail ?? $0.providerMessageID.map { "accepted as \($0)" }]
                })
        }
    }

    /// Writes deliveries on fallback channels, `queued`, with their jobs in the outbox, in the caller's
    /// transaction; a notification that already has a delivery on that channel (a repeated claim or record) gets
    /// none.
    static func queueFallbacks(_ jobs: [DeliveryJob], to exchange: String, on db: PGConnection) throws {
        guard !jobs.isEmpty else { return }
        let inserted = Set(try db.query("""
            INSERT INTO deliveries (id, notification_id, user_id, channel, status, product_id, organization_id)
            SELECT i, n, u, c, 'queued', p, o FROM unnest(\(PGTextArray(jobs.map(\.deliveryID)))::uuid[],
                                                  \(PGTextArray(jobs.map(\.notificationID)))::uuid[],
                                                  \(PGTextArray(jobs.map(\.userID)))::text[],
                                                  \(PGTextArray(jobs.map(\.channel.rawValue)))::text[],
                                                  \(PGTextArray(jobs.map { $0.tenant?.productID.uuidString }))::uuid[],
                                                  \(PGTextArray(jobs.map { $0.tenant?.organizationID?.uuidString }))::uuid[]) AS f(i, n, u, c, p, o)
            ON CONFLICT (notification_id, channel) DO NOTHING
            RETURNING id::text
            """).map { try $0.decode(0, as: String.self) })
        let queued = jobs.filter { inserted.contains($0.deliveryID.lowercased()) }
        guard !queued.isEmpty else { return }
        _ = try db.copy(
            into: "delivery_history", columns: ["delivery_id", "status", "detail"],
            rows: queued.map { [$0.deliveryID, DeliveryStatus.queued.rawValue, "fallback"] })
        try OutboxStore.enqueue(queued.map { OutboxMessage($0, exchange: exchange) }, on: db)
    }
}
