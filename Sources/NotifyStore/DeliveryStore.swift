import Foundation
import NotifyCore
import Postgres

/// Deliveries and their history: written with their notification (`IngestionStore`), read by the tracking queries.
public enum DeliveryStore {
    /// Writes new deliveries and the first entry of each one's history, with COPY.
    static func insert(_ deliveries: [NewDelivery], on db: PGConnection) throws {
        guard !deliveries.isEmpty else { return }
        _ = try db.copy(
            into: "deliveries",
            columns: ["id", "notification_id", "user_id", "channel", "status", "product_id", "organization_id", "digest_id"],
            rows: deliveries.map {
                [
                    $0.id, $0.notificationID, $0.userID, $0.channel.rawValue, $0.status.rawValue, $0.tenant?.productID,
                    $0.tenant?.organizationID,
                    $0.digestID,
                ]
            })
        _ = try db.copy(
            into: "delivery_history", columns: ["delivery_id", "status", "detail"],
            rows: deliveries.map { [$0.id, $0.status.rawValue, $0.reason] })
    }

    /// Every delivery of a notification, by channel, with its history in order; nil when the notification does
    /// not exist (ids that are not UUIDs cannot). The in-app delivery is read from the notification's own row
    /// (its id is the notification's): delivered when it showed in the inbox (`scheduled` before a scheduled send's
    /// time). Only what `visibility` reads is found.
    public static func status(of notificationID: String, visibility: Visibility, on db: PGConnection) throws -> [DeliveryRecord]? {
        guard let uuid = UUID(uuidString: notificationID) else { return nil }
        let rows = try db.query(
            """
            SELECT 'in-app' = ANY(n.channels), n.created_at::text, n.created_at > now(), d.id, d.channel, d.status, d.attempts,
                   d.provider_message_id, d.last_error_code, d.last_error_class, d.updated_at::text, h.status, h.at::text,
                   h.attempt, h.error_code, h.error_class, h.detail, d.last_error_detail
            FROM notifications n
            LEFT JOIN deliveries d ON d.notification_id = n.id
            LEFT JOIN delivery_history h ON h.delivery_id = d.id
            WHERE n.id = \(uuid)
              AND (\(visibility.isEveryone)::boolean OR n.product_id IS NOT DISTINCT FROM \(visibility.productID)::uuid)
              AND (\(visibility.organizationID)::uuid IS NULL OR n.organization_id = \(visibility.organizationID))
            ORDER BY d.channel, h.at
            """, prepared: true)
        guard let first = rows.first else { return nil }
        var records: [DeliveryRecord] = []
        if try first.decode(0, as: Bool.self) {
            let stored = NotificationStore.rfc3339(try first.decode(1, as: String.self))
            let status = (try first.decode(2, as: Bool.self) ? DeliveryStatus.scheduled : .delivered).rawValue
            records.append(
                DeliveryRecord(
                    id: notificationID.lowercased(), channel: NotificationChannel.inApp.rawValue, status: status,
                    attempts: 0, providerMessageID: nil, lastErrorCode: nil, lastErrorClass: nil, updatedAt: stored,
                    history: [.init(status: status, at: stored, attempt: 0, errorCode: nil, errorClass: nil, detail: nil)]))
        }
        for row in rows {
            guard let id = try row.decodeIfPresent(3, as: String.self) else { continue }
            if records.last?.id != id {
                records.append(
                    DeliveryRecord(
                        id: id, channel: try row.decode(4), status: try row.decode(5), attempts: try row.decode(6),
                        providerMessageID: try row.decodeIfPresent(7, as: String.self),
                        lastErrorCode: try row.decodeIfPresent(8, as: String.self),
                        lastErrorClass: try row.decodeIfPresent(9, as: String.self),
                        lastErrorMessage: try row.decodeIfPresent(17, as: String.self),
                        updatedAt: NotificationStore.rfc3339(try row.decode(10)), history: []))
            }
            guard let status = try row.decodeIfPresent(11, as: String.self) else { continue }
            records[records.count - 1].history.append(
                DeliveryRecord.Entry(
                    status: status, at: NotificationStore.rfc3339(try row.decode(12)), attempt: try row.decode(13),
                    errorCode: try row.decodeIfPresent(14, as: String.self),
                    errorClass: try row.decodeIfPresent(15, as: String.self), detail: try row.decodeIfPresent(16, as: String.self)))
        }
        return records
    }

    /// A page of `ListDeliveries`, newest first: up to `limit + 1` lines, each with its cursor position.
    public static func list(_ query: ListDeliveries, visibility: Visibility, on db: PGConnection) throws -> [(
        record: DeliveryRecord, position: String
    )] {
        let since = query.since.flatMap(RFC3339.date(from:))
        return try db.query(
            """
            SELECT id::text, notification_id::text, user_id, channel, status, attempts, provider_message_id, last_error_code,
                   last_error_class, last_error_detail, updated_at::text, created_at::text
            FROM deliveries
            WHERE (\(query.userID)::text IS NULL OR user_id = \(query.userID))
              AND (\(visibility.isEveryone)::boolean OR product_id = \(visibility.productID)::uuid
                       OR (\(visibility.productID)::uuid IS NULL AND product_id IS NULL))
              AND (\(visibility.organizationID)::uuid IS NULL OR organization_id = \(visibility.organizationID))
              AND (\(query.channel?.rawValue)::text IS NULL OR channel = \(query.channel?.rawValue))
              AND (\(query.status?.rawValue)::text IS NULL OR status = \(query.status?.rawValue))
              AND (\(since)::timestamptz IS NULL OR created_at >= \(since))
              AND (\(query.cursor?.createdAt)::timestamptz IS NULL
                   OR (created_at, id) < (\(query.cursor?.createdAt)::timestamptz, \(query.cursor?.id)::uuid))
            ORDER BY created_at DESC, id DESC LIMIT \(query.limit + 1)
            """, prepared: true
        ).map { row in
            var record = DeliveryRecord(
                id: try row.decode(0), channel: try row.decode(3), status: try row.decode(4), attempts: try row.decode(5),
                providerMessageID: try row.decodeIfPresent(6, as: String.self), lastErrorCode: try row.decodeIfPresent(7, as: String.self),
                lastErrorClass: try row.decodeIfPresent(8, as: String.self), lastErrorMessage: try row.decodeIfPresent(9, as: String.self),
                updatedAt: NotificationStore.rfc3339(try row.decode(10)), history: [])
            record.notificationID = try row.decode(1)
            record.userID = try row.decode(2)
            record.createdAt = NotificationStore.rfc3339(try row.decode(11, as: String.self))
            return (record, try row.decode(11, as: String.self))
        }
    }
}
