import Foundation
import NotifyCore
import Postgres

/// The audit trail: appended in the caller's transaction, read newest first.
public enum AuditStore {
    /// Appends `entries` (on the caller's connection, so inside its transaction when it has one). An entry without a
    /// time is stamped by the database's clock as it is written.
    public static func append(_ entries: [AuditEntry], on db: PGConnection) throws {
        let columns = [
            "actor", "product_id", "organization_id", "entity", "action", "outcome", "request_id", "detail", "count", "client_address",
        ]
        func values(_ entry: AuditEntry) -> [(any PGEncodable)?] {
            [
                entry.actor, entry.tenant?.productID, entry.tenant?.organizationID, entry.entity, entry.action, entry.outcome,
                entry.requestID, entry.detail, entry.count, entry.clientAddress,
            ]
        }
        let (timed, untimed) = (entries.filter { $0.at != nil }, entries.filter { $0.at == nil })
        if !untimed.isEmpty { _ = try db.copy(into: "audit_events", columns: columns, rows: untimed.map(values)) }
        if !timed.isEmpty { _ = try db.copy(into: "audit_events", columns: columns + ["at"], rows: timed.map { values($0) + [$0.at] }) }
    }

    /// A page of the trail, newest first; `tenant` (a product) limits it to that product's rows.
    public static func list(_ query: ListAuditEvents, tenant: UUID?, on db: PGConnection) throws -> [AuditEvent] {
        try db.query(
            """
            SELECT id, at::text, actor, product_id::text, organization_id::text, entity, action, outcome, request_id, detail,
                   count, client_address
            FROM audit_events
            WHERE (\(tenant)::uuid IS NULL OR product_id = \(tenant))
              AND (\(query.entity)::text IS NULL OR entity = \(query.entity))
              AND (\(query.actor)::text IS NULL OR actor = \(query.actor))
              AND (\(query.from)::timestamptz IS NULL OR at >= \(query.from))
              AND (\(query.to)::timestamptz IS NULL OR at < \(query.to))
              AND (\(query.cursor)::bigint IS NULL OR id < \(query.cursor))
            ORDER BY id DESC LIMIT \(query.limit)
            """, prepared: true
        ).map { row in
            let product = try row.decodeIfPresent(3, as: UUID.self)
            var entry = AuditEntry(
                actor: try row.decode(2),
                tenant: product.map { Tenant(productID: $0, organizationID: try? row.decodeIfPresent(4, as: UUID.self)) },
                entity: try row.decode(5), action: try row.decode(6), outcome: try row.decode(7),
                requestID: try row.decodeIfPresent(8, as: String.self), detail: try row.decodeIfPresent(9, as: String.self))
            entry.count = try row.decode(10)
            entry.clientAddress = try row.decodeIfPresent(11, as: String.self)
            return AuditEvent(id: try row.decode(0), at: NotificationStore.rfc3339(try row.decode(1)), entry: entry)
        }
    }
}
