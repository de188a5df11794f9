import Foundation
import NotifyCore
import Postgres

/// The seed platform's tracking (`ListMessages`, `GetMessage`): deliveries with their notification and send request,
/// and tenants' in-app notifications, each of which is its own delivery (its message id the notification's id:
/// `delivered` once it shows in the inbox, `scheduled` before). FlowMart's own in-app notifications are its inbox,
/// read with the inbox commands.
extension DeliveryStore {
    /// The columns every message is read through (`messages`, `message`): deliveries, and tenants' in-app
    /// notifications as deliveries.
    private static let messageRows = """
        SELECT d.id, d.notification_id, d.product_id, d.organization_id, d.user_id, d.channel, d.status, d.attempts,
               d.created_at, d.updated_at
        FROM deliveries d
        UNION ALL
        SELECT n.id, n.id, n.product_id, n.organization_id, n.user_id, 'in-app',
               CASE WHEN n.created_at > now() THEN 'scheduled' ELSE 'delivered' END, 0, n.created_at, n.created_at
        FROM notifications n WHERE n.product_id IS NOT NULL AND 'in-app' = ANY(n.channels)
        """

    /// The columns of a `MessageRecord`, in the order `message(_:)` reads them. A digest's delivery has no
    /// notification: its kind, and what it said once it left, are the digest's (its sender `digest`). An in-app
    /// message was delivered when it showed in the inbox.
    private static let messageColumns = """
        d.id::text, d.notification_id::text, n.request_id::text, d.product_id::text, d.organization_id::text,
        coalesce(s.sender, CASE WHEN g.id IS NOT NULL THEN 'digest' END, 'flowmart'), d.user_id, d.channel, d.status, d.attempts,
        CASE WHEN d.channel = 'in-app' THEN CASE WHEN d.status = 'delivered' THEN d.created_at::text END
             ELSE (SELECT min(h.at)::text FROM delivery_history h WHERE h.delivery_id = d.id AND h.status = 'sent') END,
        d.created_at::text, d.updated_at::text, coalesce(n.type, g.kind), coalesce(n.title, g.title, ''), coalesce(n.message, g.body, '')
        """

    /// What `messageColumns` reads from, for message rows `d`.
    private static let messageJoins = """
        LEFT JOIN notifications n ON n.id = d.notification_id
        LEFT JOIN digests g ON g.id = d.notification_id
        LEFT JOIN send_requests s ON s.id = n.request_id
        """

    /// A page of messages, newest first, and how many match up to `query.countLimit`, in one statement (the count and
    /// the page read the same snapshot; `NOT MATERIALIZED`, so each reads only the rows it needs). A page past the end
    /// has no rows but still the total. The statement runs for at most `ListMessages.timeLimitMilliseconds` (then it
    /// fails with a cancelled statement, `PGError.isCancelled`), always with a custom plan (`messagesStatement`).
    public static func messages(_ query: ListMessages, visibility: Visibility, on db: PGConnection) throws -> (
        messages: [MessageRecord], total: Int
    ) {
        try db.transaction { db in
            try db.execute(
                script: """
                    SET LOCAL statement_timeout = \(ListMessages.timeLimitMilliseconds); SET LOCAL plan_cache_mode = force_custom_plan
                    """)
            let rows = try db.query(messagesStatement(query, visibility: visibility), prepared: true)
            let total = try rows.first?.decode(0, as: Int.self) ?? 0
            let page = try rows.filter { try $0.decodeIfPresent(1, as: String.self) != nil }.map { try message($0, from: 1) }
            return (page, total)
        }
    }

    /// The statement of `messages`. The filters apply to both kinds of row, so each reaches its own index: an
    /// organisation's rows `deliveries_by_organization` and `notifications_in_app_by_organization` (only its own rows
    /// are read, however many its product has), a product's `deliveries_by_tenant` and `notifications_in_app_by_tenant`.
    /// The tenant is compared with `=` or `IS NULL`, never `IS NOT DISTINCT FROM`, which no index serves, and the
    /// branch of a filter not given is folded away only in a custom plan: hence `plan_cache_mode` in `messages`.
    static func messagesStatement(_ query: ListMessages, visibility: Visibility) -> PGQuery {
        """
        WITH matched AS NOT MATERIALIZED (
            SELECT * FROM (\(unsafe: messageRows)) d
            WHERE (\(visibility.isEveryone)::boolean OR d.product_id = \(visibility.productID)::uuid
                   OR (\(visibility.productID)::uuid IS NULL AND d.product_id IS NULL))
              AND (\(visibility.organizationID)::uuid IS NULL OR d.organization_id = \(visibility.organizationID))
              AND (\(query.productID)::uuid IS NULL OR d.product_id = \(query.productID))
              AND (\(query.organizationID)::uuid IS NULL OR d.organization_id = \(query.organizationID))
              AND (\(query.receiverID)::text IS NULL OR d.user_id = \(query.receiverID))
              AND (\(query.status?.rawValue)::text IS NULL OR d.status = \(query.status?.rawValue))
              AND (\(query.createdFrom)::timestamptz IS NULL OR d.created_at >= \(query.createdFrom))
              AND (\(query.createdTo)::timestamptz IS NULL OR d.created_at < \(query.createdTo)))
        SELECT c.total, p.* FROM (SELECT count(*) AS total FROM (SELECT 1 FROM matched LIMIT \(query.countLimit)) counted) c
        LEFT JOIN LATERAL (
            SELECT \(unsafe: messageColumns)
            FROM matched d \(unsafe: messageJoins)
            ORDER BY d.created_at DESC, d.id DESC LIMIT \(query.limit) OFFSET \(query.offset)) p ON true
        """
    }

    /// One message, if `visibility` reads it.
    public static func message(_ id: String, visibility: Visibility, on db: PGConnection) throws -> MessageRecord? {
        guard let uuid = UUID(uuidString: id) else { return nil }
        return try db.query(
            """
            SELECT \(unsafe: messageColumns)
            FROM (\(unsafe: messageRows)) d \(unsafe: messageJoins)
            WHERE d.id = \(uuid)
              AND (\(visibility.isEveryone)::boolean OR d.product_id IS NOT DISTINCT FROM \(visibility.productID)::uuid)
              AND (\(visibility.organizationID)::uuid IS NULL OR d.organization_id = \(visibility.organizationID))
            """, prepared: true
        ).first.map { try message($0, from: 0) }
    }

    /// The message whose columns (`messageColumns`) start at column `first` of `row`.
    private static func message(_ row: PGRow, from first: Int) throws -> MessageRecord {
        func text(_ column: Int) throws -> String { try row.decode(first + column) }
        func optional(_ column: Int) throws -> String? { try row.decodeIfPresent(first + column, as: String.self) }
        return MessageRecord(
            id: try text(0), notificationID: try text(1), requestID: try optional(2), productID: try optional(3),
            organizationID: try optional(4), senderID: try text(5), receiverID: try text(6), channel: try text(7),
            status: try text(8), attempts: try row.decode(first + 9), deliveryTime: try optional(10).map(NotificationStore.rfc3339),
            createdAt: NotificationStore.rfc3339(try text(11)), updatedAt: NotificationStore.rfc3339(try text(12)),
            category: try text(13), title: try text(14), text: try text(15))
    }
}
