import Foundation
import NotifyCore
import Postgres

/// Send requests: accepted in one transaction with everything they cause — the idempotency record, the recipient's
/// addresses, the notification, its deliveries, their jobs in the outbox, and the audit row — so a 202 means
/// durably queued and audited.
public enum SendStore {
    /// A send request as it is recorded.
    public struct Request: Sendable {
        public var id: String
        public var tenant: Tenant
        public var idempotencyKey: String?
        public var hash: String
        public var category: String
        public var lane: NotificationPriority
        /// Who sent it, as the audit trail names it (`key:<id>`).
        public var sender: String

        public init(
            id: String, tenant: Tenant, idempotencyKey: String?, hash: String, category: String, lane: NotificationPriority,
            sender: String
        ) {
            self.sender = sender
            self.id = id
            self.tenant = tenant
            self.idempotencyKey = idempotencyKey
            self.hash = hash
            self.category = category
            self.lane = lane
        }
    }

    /// One request of a group commit, with everything it writes.
    public struct Acceptance: Sendable {
        public var request: Request
        /// Addresses the request names, for the tenant's directory.
        public var addresses: [SendRequest.Recipient]
        public var plan: CommitPlan
        public var audit: AuditEntry

        public init(request: Request, addresses: [SendRequest.Recipient], plan: CommitPlan, audit: AuditEntry) {
            self.request = request
            self.addresses = addresses
            self.plan = plan
            self.audit = audit
        }
    }

    public enum Outcome: Sendable, Equatable {
        case accepted
        /// The idempotency key was used before: nothing was written for this request.
        case repeated(Repeat)
        /// The key's row was being written by a request that rolled back while this one waited: sent again, it goes
        /// through.
        case raced
    }

    /// A request whose idempotency key came within the window before.
    public enum Repeat: Sendable, Equatable {
        /// With the same request: that request's id.
        case duplicate(requestID: String)
        /// With another request.
        case conflict(requestID: String)
    }

    /// Records `items` in one transaction (a group commit: the statements are the same for one request or hundreds,
    /// and prepared once per connection),
    /// each unless its idempotency key was used within `windowHours` (also by an earlier item of the same call).
    /// Returns each item's outcome, in order; the accepted ones' addresses, plans and audit rows are written.
    public static func accept(_ items: [Acceptance], windowHours: Int, on db: PGConnection) throws -> [Outcome] {
        guard !items.isEmpty else { return [] }
        return try db.transaction { db in
            let keyed = items.map(\.request).filter { $0.idempotencyKey != nil }
            if !keyed.isEmpty {
                // A key older than the window is free again: released from the request that used it, which stays (its
                // deliveries may still be scheduled, retrying or in a digest: their category decides opt-outs, and
                // CancelRequest and ListMessages read it).
                _ = try db.query(
                    """
                    UPDATE send_requests s SET idempotency_key = NULL
                    FROM unnest(\(PGTextArray(keyed.map(\.tenant.namespace.uuidString)))::uuid[],
                                 \(PGTextArray(keyed.map(\.idempotencyKey)))::text[]) AS k(namespace, key)
                    WHERE s.namespace = k.namespace AND s.idempotency_key = k.key
                      AND s.created_at <= now() - make_interval(hours => \(windowHours))
                    """, prepared: true)
            }
            let requests = items.map(\.request)
            // In key order, so two daemons' commits wait for each other's keys rather than deadlock.
            let inserted = Set(
                try db.query(
                    """
                    INSERT INTO send_requests (id, namespace, product_id, organization_id, sender, idempotency_key, body_hash, category, lane,
                                               notifications)
                    SELECT id, namespace, product, organization, sender, key, hash, category, lane, count
                    FROM unnest(\(PGTextArray(requests.map(\.id)))::uuid[], \(PGTextArray(requests.map(\.tenant.namespace.uuidString)))::uuid[],
                                \(PGTextArray(requests.map(\.tenant.productID.uuidString)))::uuid[],
                                \(PGTextArray(requests.map { $0.tenant.organizationID?.uuidString }))::uuid[],
                                \(PGTextArray(requests.map(\.sender)))::text[], \(PGTextArray(requests.map(\.idempotencyKey)))::text[],
                                \(PGTextArray(requests.map(\.hash)))::text[], \(PGTextArray(requests.map(\.category)))::text[],
                                \(PGTextArray(requests.map(\.lane.rawValue)))::text[],
                                \(PGTextArray(items.map { String($0.plan.notifications.count) }))::int[])
                         AS r(id, namespace, product, organization, sender, key, hash, category, lane, count)
                    ORDER BY namespace, key
                    ON CONFLICT (namespace, idempotency_key) DO NOTHING
                    RETURNING id::text
                    """, prepared: true
                ).map { try $0.decode(0, as: String.self) })
            var outcomes: [Outcome] = []
            var accepted: [Acceptance] = []
            for item in items {
                if inserted.contains(item.request.id.lowercased()) {
                    outcomes.append(.accepted)
                    accepted.append(item)
                } else if let earlier = try earlier(item.request, on: db) {
                    outcomes.append(.repeated(earlier))
                } else {
                    outcomes.append(.raced)
                }
            }
            try RecipientStore.writeAddresses(
                accepted.flatMap { item in item.addresses.map { (item.request.tenant.namespace, $0) } }, on: db)
            try IngestionStore.write(CommitPlan(sends: accepted.map(\.plan)), on: db)
            try AuditStore.append(accepted.map(\.audit), on: db)
            return outcomes
        }
    }

    /// What an earlier request with `request`'s idempotency key (within the window) makes of it; nil when there is
    /// none (or no key). A repeat is answered so even when the tenant is over its quota.
    public static func earlier(_ request: Request, on db: PGConnection) throws -> Repeat? {
        guard let key = request.idempotencyKey else { return nil }
        guard
            let row = try db.query(
                """
                SELECT id::text, body_hash FROM send_requests WHERE namespace = \(request.tenant.namespace) AND idempotency_key = \(key)
                """
            ).first
        else { return nil }
        let (id, hash) = (try row.decode(0, as: String.self), try row.decode(1, as: String.self))
        return hash == request.hash ? .duplicate(requestID: id) : .conflict(requestID: id)
    }

    /// What cancelling a request did: deliveries stopped, deliveries being sent (they finish), deliveries already done.
    public struct Cancellation: Sendable, Equatable {
        public var cancelled: Int
        public var inFlight: Int
        public var finished: Int
    }

    /// Cancels what request `id` has not sent yet, in one transaction: its deliveries still `queued`, `scheduled`,
    /// `batched` (in a digest that has not left: it leaves without them) or `failed` (waiting for a retry) become
    /// `cancelled` with a history entry, so a job that comes for one finds nothing to claim (a scheduled one's held
    /// job is dropped), and in-app copies not yet shown leave the inbox; the request is marked, and the audit trail
    /// says who. Nil when `visibility` does not read the request.
    public static func cancel(_ id: String, visibility: Visibility, actor: String, on db: PGConnection) throws -> Cancellation? {
        guard let uuid = UUID(uuidString: id) else { return nil }
        return try db.transaction { db in
            guard
                let request = try db.query(
                    """
                    UPDATE send_requests SET cancelled_at = coalesce(cancelled_at, now())
                    WHERE id = \(uuid)
                      AND (\(visibility.isEveryone)::boolean OR product_id IS NOT DISTINCT FROM \(visibility.productID)::uuid)
                      AND (\(visibility.organizationID)::uuid IS NULL OR organization_id = \(visibility.organizationID))
                    RETURNING product_id, organization_id
                    """
                ).first
            else { return nil }
            let tenant = Tenant(productID: try request.decode(0), organizationID: try request.decodeIfPresent(1, as: UUID.self))
            let cancelled =
                try db.query(
                    """
                    WITH stopped AS (
                        UPDATE deliveries d SET status = 'cancelled', updated_at = now()
                        FROM notifications n
                        WHERE n.request_id = \(uuid) AND d.notification_id = n.id AND d.status IN ('queued', 'failed', 'scheduled', 'batched')
                        RETURNING d.id),
                    unscheduled AS (DELETE FROM scheduled_jobs WHERE delivery_id IN (SELECT id FROM stopped))
                    INSERT INTO delivery_history (delivery_id, status, detail)
                    SELECT id, 'cancelled', \("cancelled by \(actor)") FROM stopped
                    """
                ).affectedRows
                // An in-app copy that has not shown yet (a scheduled send's) leaves the inbox before anyone saw it.
                + db.query(
                    """

                    UPDATE notifications SET channels = array_remove(channels, 'in-app')
                    WHERE request_id = \(uuid) AND 'in-app' = ANY(channels) AND created_at > now()
                    """
                ).affectedRows
            let rest = try db.query(
                """
                SELECT count(*) FILTER (WHERE d.status = 'sending'), count(*) FILTER (WHERE d.status <> 'sending')
                FROM deliveries d JOIN notifications n ON n.id = d.notification_id
                WHERE n.request_id = \(uuid) AND d.status <> 'cancelled'
                """)[0]
            let outcome = Cancellation(cancelled: cancelled, inFlight: try rest.decode(0), finished: try rest.decode(1))
            try AuditStore.append(
                [
                    AuditEntry(
                        actor: actor, tenant: tenant, entity: "request:\(id)", action: "send.cancelled", requestID: id,
                        detail: "\(outcome.cancelled) stopped, \(outcome.inFlight) in flight, \(outcome.finished) finished")
                ], on: db)
            return outcome
        }
    }
}
