import Foundation
import NotifyStore
import Postgres

/// How big the tables grow: each table's size (with its indexes and TOAST) after a run, per million events of the
/// load's mix, for the retention figures of docs/operations.md.
enum Growth {
    static func perMillionEvents(_ rig: ChaosRig, events: Int) async throws -> String {
        let sizes = try await rig.db.withConnection { try Census.tableSizes(on: $0) }
        let scale = 1_000_000 / Double(events) / 1_048_576
        return "  growth per million events (nine in ten payments with email and in-app): "
            + sizes.sorted { $0.bytes > $1.bytes }.map { String(format: "%@ %.0f MB", $0.table, Double($0.bytes) * scale) }.joined(
                separator: ", ")
    }
}
