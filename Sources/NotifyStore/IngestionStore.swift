import Foundation
import NotifyCore
import Postgres

/// Writes what consumed events change. One transaction per batch: claim the events' deduplication rows,
/// lock and load the state the plan needs, let the caller's planner decide (a pure function in `NotifyCore`),
/// then write the plan. The store decides nothing.
public struct IngestionStore: Sendable {
    public let database: PGPool
    /// Called after a transaction that wrote outbox rows has committed (the relay's doorbell).
    let outboxCommitted: @Sendable () -> Void

    public init(database: PGPool, outboxCommitted: @escaping @Sendable () -> Void = {}) {
        self.database = database
        self.outboxCommitted = outboxCommitted
    }

    /// A planner: the plan for the new events of a batch, given the state loaded for them.
    public typealias Planning = @Sendable (_ fresh: [ConsumedEvent], _ state: StockState) -> CommitPlan

    /// Stores a batch in one transaction; returns how many notifications were created.
    public func commit(_ events: [ConsumedEvent], planning: @escaping Planning) async throws -> Int {
        guard !events.isEmpty else { return 0 }
        let (created, queued) = try await database.transaction { db in
            let fresh = try NotificationStore.deduplicate(events, on: db)
            let products = IngestionPlanner.products(of: fresh)
            let state = products.isEmpty ? StockState() : try StockStore.lockedState(of: products, on: db)
            let plan = planning(fresh, state)
            try Self.write(plan, on: db)
            return (plan.notifications.count, plan.outbox.count)
        }
        if queued > 0 { outboxCommitted() }
        return created
    }

    /// Applies stock-outs that reconciliation found, one transaction for the page; `planning` decides for each
    /// item given its known level (nil to change nothing). Returns how many items changed something.
    public func reconcile(
        _ items: [InventoryList.Item], planning: @escaping @Sendable (InventoryList.Item, StockLevel?) -> CommitPlan?
    ) async throws -> Int {
        guard !items.isEmpty else { return 0 }
        let changed = try await database.transaction { db in
            try items.reduce(0) { count, item in
                let product = ProductKey(productID: item.productID, warehouseID: item.location)
                let known = try StockStore.lockedState(of: [product], watchers: false, on: db).levels[product]
                guard let plan = planning(item, known) else { return count }
                try Self.write(plan, on: db)
                return count + 1
            }
        }
        if changed > 0 { outboxCommitted() }
        return changed
    }

    /// Writes a plan inside the caller's transaction: stock levels, spent wishes, outbox rows, notifications and
    /// their deliveries, and the digests its batched deliveries join.
    static func write(_ plan: CommitPlan, on db: PGConnection) throws {
        try StockStore.write(plan.stockChanges, on: db)
        try WatchStore.delete(plan.spentWatches, on: db)
        try OutboxStore.enqueue(plan.outbox, on: db)
        try OutboxStore.schedule(plan.scheduled, on: db)
        try NotificationStore.insert(plan.notifications, on: db)
        let digests = try DigestStore.assign(plan.digestItems, on: db)
        let now = Date()
        try DeliveryStore.insert(DigestStore.deliveries(plan.deliveries, joining: digests, now: now), on: db)
        try DigestStore.write(digests, now: now, on: db)
    }
}
