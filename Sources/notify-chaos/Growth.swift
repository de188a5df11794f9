import Foundation
import Postgres

/// How big the tables grow: each table's size (with its indexes and TOAST) after a run, per million events of the
/// load's mix, for the retention figures of docs/operations.md.
enum Growth {
    static let tables = ["inbox", "notifications", "deliveries", "delivery_history", "audit_events", "outbox", "stock_levels", "rate_limits"]

    static func perMillionEvents(_ rig: ChaosRig, events: Int) async throws -> String {
        let sizes = try await rig.db.withConnection { db in
            try db.query("""
                SELECT relname::text, pg_total_relation_size(oid) FROM pg_class
                WHERE relkind = 'r' AND relname = ANY(\(PGTextArray(tables))::text[])
                """).map { (try $0.decode(0, as: String.self), try $0.decode(1, as: Int.self)) }
        }
        let scale = 1_000_000 / Double(events) / 1_048_576
        return "  growth per million events (nine in ten payments with email and in-app): "
            + sizes.sorted { $0.1 > $1.1 }.map { String(format: "%@ %.0f MB", $0.0, Double($0.1) * scale) }.joined(separator: ", ")
    }
}
