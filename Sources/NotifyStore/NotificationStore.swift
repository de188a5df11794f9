import Foundation
import NotifyCore
import Postgres

/// The deduplication table (`inbox`: which consumed events were seen) and notifications: written inside the ingestion transaction
/// (`IngestionStore`), read by the RPC handlers on the query pool's threads, so a slow query never holds up
/// ingestion.
public enum NotificationStore {
    /// Inserts a deduplication row per event and returns the events that were new, in order: the first occurrence of each
    /// new key takes effect; later copies in the same batch are duplicates.
    static func deduplicate(_ events: [ConsumedEvent], on db: PGConnection) throws -> [ConsumedEvent] {
        let fresh = try db.query(
            """
            INSERT INTO inbox (consumer, message_key)
            SELECT * FROM unnest(\(PGTextArray(events.map(\.consumer)))::text[], \(PGTextArray(events.map(\.key)))::text[])
            ON CONFLICT DO NOTHING RETURNING consumer, message_key
            """, prepared: true)
        var new = Set<String>()
        for row in fresh { new.insert(try row.decode(0, as: String.self) + "\u{1F}" + row.decode(1, as: String.self)) }
        return events.filter { new.remove($0.consumer + "\u{1F}" + $0.key) != nil }
    }

    /// Writes notifications with COPY.
    static func insert(_ notifications: [NewNotification], on db: PGConnection) throws {
        guard !notifications.isEmpty else { return }
        let rows: [[(any PGEncodable)?]] = notifications.map { notification in
            [
                notification.id, notification.userID, notification.type, notification.priority.rawValue,
                PGTextArray(notification.channels.map(\.rawValue)),
                notification.title, notification.message, Self.json(notification.metadata), notification.sourceEventKey,
                notification.tenant?.productID, notification.tenant?.organizationID, notification.requestID,
            ]
        }
        _ = try db.copy(
            into: "notifications",
            columns: [
                "id", "user_id", "type", "priority", "channels", "title", "message", "metadata", "source_event_key",
                "product_id", "organization_id", "request_id",
            ],
            rows: rows)
        // Scheduled sends only (COPY cannot default a column on some rows): their in-app copies show from their time.
        let later = notifications.compactMap { notification in notification.visibleFrom.map { (notification.id, $0) } }
        guard !later.isEmpty else { return }
        _ = try db.query(
            """

            UPDATE notifications n SET created_at = to_timestamp(v.at)
            FROM unnest(\(PGTextArray(later.map(\.0)))::uuid[], \(PGTextArray(later.map { String($0.1.timeIntervalSince1970) }))::float8[]) AS v(id, at)
            WHERE n.id = v.id
            """, prepared: true)
    }

    // MARK: - Queries (synchronous: they run on a connection's own thread)

    /// Inboxes are per tenant: FlowMart's users' (`tenant` nil: `product_id IS NULL`, every notification of theirs),
    /// and each tenant's users' (the notifications it sent with the `in-app` channel, in its own directory's
    /// namespace: a product's own, or one organisation's).
    ///
    /// A page of a user's inbox, newest first, with the user's total and unread counts. For FlowMart's, each count
    /// is an index-only scan (the user index, and the partial unread index), so only the page's rows touch the table.
    public static func page(_ request: GetUserNotifications, tenant: Tenant?, on db: PGConnection) throws
        -> (notifications: [StoredNotification], total: Int, unread: Int)
    {
        let filter = request.unreadOnly ? "AND read_at IS NULL" : ""
        let rows: PGRows
        if let tenant {
            rows = try db.query(
                PGQuery(
                    unsafeSQL: """
                        SELECT c.total, c.unread, n.id, n.title, n.message, n.read, n.created
                        FROM (SELECT count(*) AS total, count(*) FILTER (WHERE read_at IS NULL) AS unread FROM notifications
                              WHERE product_id = $4::uuid AND user_id = $1 AND 'in-app' = ANY(channels) AND created_at <= now()
                                AND organization_id IS NOT DISTINCT FROM $5::uuid) c
                        LEFT JOIN LATERAL (
                            SELECT id, title, message, read_at IS NOT NULL AS read, created_at::text AS created
                            FROM notifications WHERE product_id = $4::uuid AND user_id = $1 AND 'in-app' = ANY(channels) AND created_at <= now()
                              AND organization_id IS NOT DISTINCT FROM $5::uuid \(filter)
                            ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3) n ON true
                        """,
                    parameters: [
                        request.userID, String(request.limit), String(request.offset), tenant.productID.uuidString,
                        tenant.organizationID?.uuidString,
                    ]), prepared: true)
        } else {
            rows = try db.query(
                PGQuery(
                    unsafeSQL: """
                        SELECT c.total, c.unread, n.id, n.title, n.message, n.read, n.created
                        FROM (SELECT (SELECT count(*) FROM notifications WHERE user_id = $1 AND product_id IS NULL) AS total,
                                     (SELECT count(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL AND product_id IS NULL) AS unread) c
                        LEFT JOIN LATERAL (
                            SELECT id, title, message, read_at IS NOT NULL AS read, created_at::text AS created
                            FROM notifications WHERE user_id = $1 AND product_id IS NULL \(filter)
                            ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3) n ON true
                        """,
                    parameters: [request.userID, String(request.limit), String(request.offset)]), prepared: true)
        }
        let (total, unread) = try rows[0].decode(Int.self, Int.self)
        let notifications = try rows.compactMap { row -> StoredNotification? in
            guard let id = try row.decodeIfPresent(2, as: String.self) else { return nil }
            return StoredNotification(
                id: id, userID: request.userID, title: try row.decode(3), message: try row.decode(4),
                read: try row.decode(5), createdAt: rfc3339(try row.decode(6)), type: "", metadata: [:])
        }
        return (notifications, total, unread)
    }

    /// One notification of `tenant`'s inbox by id; nil when there is none (ids that are not UUIDs cannot exist).
    public static func details(_ id: String, tenant: Tenant?, on db: PGConnection) throws -> StoredNotification? {
        guard let uuid = UUID(uuidString: id) else { return nil }
        let rows = try db.query(
            """
            SELECT id, user_id, title, message, read_at IS NOT NULL, created_at::text, type, metadata::text
            FROM notifications WHERE id = \(uuid)
              AND (\(tenant == nil)::boolean AND product_id IS NULL
                   OR product_id = \(tenant?.productID)::uuid AND 'in-app' = ANY(channels) AND created_at <= now()
                      AND organization_id IS NOT DISTINCT FROM \(tenant?.organizationID)::uuid)
            """, prepared: true)
        guard let row = rows.first else { return nil }
        return StoredNotification(
            id: try row.decode(0), userID: try row.decode(1), title: try row.decode(2), message: try row.decode(3),
            read: try row.decode(4), createdAt: rfc3339(try row.decode(5)), type: try row.decode(6),
            metadata: metadata(try row.decode(7)))
    }

    /// Marks read (idempotently: the first read time stays); false when the id is unknown or not the user's in
    /// `tenant`'s inbox.
    public static func markRead(_ id: String, userID: String, tenant: Tenant?, on db: PGConnection) throws -> Bool {
        guard let uuid = UUID(uuidString: id) else { return false }
        return try db.query(
            """
            UPDATE notifications SET read_at = coalesce(read_at, now())
            WHERE id = \(uuid) AND user_id = \(userID)
              AND (\(tenant == nil)::boolean AND product_id IS NULL
                   OR product_id = \(tenant?.productID)::uuid AND 'in-app' = ANY(channels) AND created_at <= now()
                      AND organization_id IS NOT DISTINCT FROM \(tenant?.organizationID)::uuid)
            """, prepared: true
        ).affectedRows == 1
    }

    /// `created_at` as the server writes it (`2026-11-21 10:03:17.5+00`: the session is UTC, DateStyle ISO) in
    /// RFC 3339 with a fixed six-digit fraction (`2026-11-21T10:03:17.500000Z`), so that the strings also sort in
    /// time order; far cheaper than `to_char` on every row.
    public static func rfc3339(_ timestamp: String) -> String {
        var utf8 = Array(timestamp.utf8)
        guard utf8.count >= 22, utf8[utf8.count - 3] == UInt8(ascii: "+"), utf8.suffix(2) == [48, 48] else { return timestamp }
        utf8.removeLast(3)
        utf8[10] = UInt8(ascii: "T")
        if utf8.count == 19 { utf8.append(UInt8(ascii: ".")) }
        while utf8.count < 26 { utf8.append(UInt8(ascii: "0")) }
        utf8.append(UInt8(ascii: "Z"))
        return String(decoding: utf8, as: UTF8.self)
    }

    private static func json(_ metadata: [String: String]) -> String {
        String(decoding: JSONValue.object(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) }).bytes, as: UTF8.self)
    }

    private static func metadata(_ json: String) -> [String: String] {
        (try? JSONSerialization.jsonObject(with: Data(json.utf8))) as? [String: String] ?? [:]
    }
}
