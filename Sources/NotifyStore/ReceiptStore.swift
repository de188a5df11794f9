import Foundation
import NotifyCore
import Postgres

/// Receipts from providers (`delivery_receipts`) and the monotonic merge of their statuses into deliveries.
public enum ReceiptStore {
    public enum Outcome: Sendable, Equatable {
        /// The delivery moved to the receipt's status.
        case applied
        /// Kept, but the delivery stays as it is: a state on the way, a late or repeated callback, or a send
        /// not recorded yet (recording it applies the receipt, `applyPending`).
        case kept
        /// No such delivery: nothing stored.
        case unknown
    }

    /// Stores each receipt and merges it into its delivery, in one transaction, under the delivery's row lock.
    public static func apply(_ receipts: [Receipt], on database: PGPool) async throws -> [Outcome] {
        try await database.transaction { db in
            try receipts.map { receipt in
                guard let id = UUID(uuidString: receipt.deliveryID),
                    let row = try db.query("SELECT status FROM deliveries WHERE id = \(id) FOR UPDATE", prepared: true).first
                else { return .unknown }
                _ = try db.execute(
                    """
                    INSERT INTO delivery_receipts (delivery_id, provider, provider_message_id, provider_status, status, error_code)
                    VALUES (\(id), \(receipt.provider), \(receipt.providerMessageID), \(receipt.providerStatus),
                            \(receipt.status?.rawValue), \(receipt.errorCode))
                    """)
                let current = DeliveryStatus(rawValue: try row.decode(0, as: String.self))
                guard let status = receipt.status, let current, status.supersedes.contains(current) else { return .kept }
                try merge(id, status, receipt, on: db)
                return .applied
            }
        }
    }

    /// Applies the receipts that came for `deliveryIDs` before their sends were recorded, in the order they came;
    /// called after recording sends of a provider that sends receipts.
    public static func applyPending(_ deliveryIDs: [String], on database: PGPool) async throws {
        guard !deliveryIDs.isEmpty else { return }
        try await database.transaction { db in
            let rows = try db.query(
                """
                SELECT r.delivery_id::text, r.provider, r.provider_message_id, r.provider_status, r.status, r.error_code
                FROM delivery_receipts r
                WHERE r.delivery_id = ANY(\(PGTextArray(deliveryIDs))::uuid[]) AND r.status IS NOT NULL
                ORDER BY r.delivery_id, r.received_at
                """, prepared: true)
            guard !rows.isEmpty else { return }
            var current: [String: DeliveryStatus] = [:]
            for row in try db.query(
                """
                SELECT id::text, status FROM deliveries
                WHERE id IN (SELECT DISTINCT delivery_id FROM delivery_receipts WHERE delivery_id = ANY(\(PGTextArray(deliveryIDs))::uuid[]))
                ORDER BY id FOR UPDATE
                """)
            {
                current[try row.decode(0, as: String.self)] = DeliveryStatus(rawValue: try row.decode(1, as: String.self))
            }
            for row in rows {
                let id: String = try row.decode(0)
                guard let status = ReceiptStatus(rawValue: try row.decode(4, as: String.self)),
                    let now = current[id], status.supersedes.contains(now), let uuid = UUID(uuidString: id)
                else { continue }
                let receipt = Receipt(
                    deliveryID: id, provider: try row.decode(1), providerMessageID: try row.decodeIfPresent(2, as: String.self),
                    providerStatus: try row.decode(3), status: status, errorCode: try row.decodeIfPresent(5, as: String.self))
                try merge(uuid, status, receipt, on: db)
                current[id] = status.deliveryStatus
            }
        }
    }

    /// The delivery's new status, its last error (for a failure the provider reported) and a history entry.
    private static func merge(_ id: UUID, _ status: ReceiptStatus, _ receipt: Receipt, on db: PGConnection) throws {
        let code = status == .delivered ? nil : receipt.errorCode
        let detail = "receipt from \(receipt.provider): \(receipt.providerStatus)" + (receipt.providerMessageID.map { " (\($0))" } ?? "")
        _ = try db.execute(
            """
            UPDATE deliveries SET status = \(status.deliveryStatus.rawValue), updated_at = now(),
                last_error_code = COALESCE(\(code)::text, last_error_code)
            WHERE id = \(id)
            """)
        _ = try db.execute(
            """
            INSERT INTO delivery_history (delivery_id, status, attempt, error_code, detail)
            SELECT id, status, attempts, \(code)::text, \(detail)::text FROM deliveries WHERE id = \(id)
            """)
    }
}
