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

        public init(id: String, tenant: Tenant, idempotencyKey: String?, hash: String, category: String, lane: NotificationPriority,
                    sender: String) {
            self.sender = sender
            self.id = id
            self.tenant = tenant
            self.idempotencyKey = idempotencyKey
            self.hash = hash
            self.category = category
            self.lane = lane
        }
    }

    public enum Outcome: Sendable, Equatable {
        case accepted
        /// The idempotency key was used before: nothing was written.
        case repeated(Repeat)
    }

    /// A request whose idempotency key came within the window before.
    public enum Repeat: Sendable, Equatable {
        /// With the same request: that request's id.
        case duplicate(requestID: String)
        /// With another request.
        case conflict(requestID: String)
    }

    /// Records `request` and writes `plan`, unless its idempotency key was used within `windowHours` (then nothing is
    /// written and the earlier request is named). `addresses` go into the tenant's directory first.
    public static func accept(
        _ request: Request, addresses: [SendRequest.Recipient], plan: IngestionPlan, audit: AuditEntry, windowHours: Int,
        on db: PGConnection
    ) throws -> Outcome {
        try db.transaction { db in
            let namespace = request.tenant.namespace
            if let key = request.idempotencyKey {
                // A key older than the window is free again.
                try db.execute("""
                    DELETE FROM send_requests WHERE namespace = \(namespace) AND idempotency_key = \(key)
                      AND created_at <= now() - make_interval(hours => \(windowHours))
                    """)
            }
            let inserted = try db.query("""
                INSERT INTO send_requests (id, namespace, product_id, organization_id, sender, idempotency_key, body_hash, category, lane,
                                           notifications)
                VALUES (\(request.id)::uuid, \(namespace), \(request.tenant.productID), \(request.tenant.organizationID), \(request.sender),
                        \(request.idempotencyKey),
                        \(request.hash), \(request.category), \(request.lane.rawValue), \(plan.notifications.count))
                ON CONFLICT (namespace, idempotency_key) DO NOTHING
                RETURNING id
                """)
            if inserted.isEmpty {
                // The key's row was there, or was being written by a request that has since rolled back: then the
                // same request sent again goes through.
                guard let earlier = try earlier(request, on: db) else {
                    throw RPCFailure(status: 503, code: "busy", message: "a request with this idempotencyKey was being written; send it again",
                                     retryAfterSeconds: 1)
                }
                return .repeated(earlier)
            }
            try RecipientStore.writeAddresses(addresses, in: namespace, on: db)
            try IngestionStore.write(plan, on: db)
            try AuditStore.append([audit], on: db)
            return .accepted
        }
    }

    /// What an earlier request with `request`'s idempotency key (within the window) makes of it; nil when there is
    /// none (or no key). A repeat is answered so even when the tenant is over its quota.
    public static func earlier(_ request: Request, on db: PGConnection) throws -> Repeat? {
        guard let key = request.idempotencyKey else { return nil }
        guard let row = try db.query("""
            SELECT id::text, body_hash FROM send_requests WHERE namespace = \(request.tenant.namespace) AND idempotency_key = \(key)
            """).first
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

    /// Cancels what request `id` has not sent yet, in one transaction: its deliveries still `queued` or `failed`
    /// (waiting for a retry) become `cancelled` with a history entry, so a job that comes for one finds nothing to
    /// claim; the request is marked, and the audit trail says who. Nil when `visibility` does not read the request.
    public static func cancel(_ id: String, visibility: Visibility, actor: String, on db: PGConnection) throws -> Cancellation? {
        guard let uuid = UUID(uuidString: id) else { return nil }
        return try db.transaction { db in
            guard let request = try db.query("""
                UPDATE send_requests SET cancelled_at = coalesce(cancelled_at, now())
                WHERE id = \(uuid)
                  AND (\(visibility.isEveryone)::boolean OR product_id IS NOT DISTINCT FROM \(visibility.productID)::uuid)
                  AND (\(visibility.organizationID)::uuid IS NULL OR organization_id = \(visibility.organizationID))
                RETURNING product_id, organization_id
                """).first
            else { return nil }
            let tenant = Tenant(productID: try request.decode(0), organizationID: try request.decodeIfPresent(1, as: UUID.self))
            let cancelled = try db.query("""
                WITH stopped AS (
                    UPDATE deliveries d SET status = 'cancelled', updated_at = now()
                    FROM notifications n
                    WHERE n.request_id = \(uuid) AND d.notification_id = n.id AND d.status IN ('queued', 'failed')
                    RETURNING d.id)
                INSERT INTO delivery_history (delivery_id, status, detail)
                SELECT id, 'cancelled', \("cancelled by \(actor)") FROM stopped
                """).affectedRows
            let rest = try db.query("""
                SELECT count(*) FILTER (WHERE d.status = 'sending'), count(*) FILTER (WHERE d.status <> 'sending')
                FROM deliveries d JOIN notifications n ON n.id = d.notification_id
                WHERE n.request_id = \(uuid) AND d.status <> 'cancelled'
                """)[0]
            let outcome = Cancellation(cancelled: cancelled, inFlight: try rest.decode(0), finished: try rest.decode(1))
            try AuditStore.append([AuditEntry(
                actor: actor, tenant: tenant, entity: "request:\(id)", action: "send.cancelled", requestID: id,
                detail: "\(outcome.cancelled) stopped, \(outcome.inFlight) in flight, \(outcome.finished) finished")], on: db)
            return outcome
        }
    }
}
