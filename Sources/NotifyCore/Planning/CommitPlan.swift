/// What one transaction writes, decided without I/O and written by a store that decides nothing: a batch of new
/// events (`IngestionPlanner.plan`), a send's notifications (`DeliveryPlanner.plan(notifications:)`, several sends
/// combined for a group commit), or a stock-out reconciliation found (`IngestionPlanner.reconcile`).
public struct CommitPlan: Sendable, Equatable {
    /// In the order they were decided (delivery order).
    public var notifications: [NewNotification] = []
    /// One per channel of each notification, written in the same transaction.
    public var deliveries: [NewDelivery] = []
    /// The final level of each product the plan changes, sorted by product.
    public var stockChanges: [StockChange] = []
    /// Events to publish, in the order they happened.
    public var outbox: [OutboxMessage] = []
    /// Wishes the plan's back-in-stock notifications spend; only these are deleted, so a wish made while the
    /// batch was being planned waits for the next back-in-stock.
    public var spentWatches: [SpentWatch] = []
    /// Jobs of a scheduled send, held until they are due (`scheduled(at:)`).
    public var scheduled: [ScheduledMessage] = []
    /// Deliveries that wait in their recipient's digest (`batched`) instead of a lane: which digest each joins is
    /// decided by the store under the digests' locks (`DigestAssignment`).
    public var digestItems: [DigestItem] = []

    public init() {}

    /// The plans of several send requests as one, for one transaction (a group commit): their notifications,
    /// deliveries and jobs (due now, later, or with a digest) in order. Sends change no stock and spend no wishes, so
    /// only those are combined.
    public init(sends plans: [CommitPlan]) {
        for plan in plans {
            notifications += plan.notifications
            deliveries += plan.deliveries
            outbox += plan.outbox
            scheduled += plan.scheduled
            digestItems += plan.digestItems
        }
    }

    public var isEmpty: Bool {
        notifications.isEmpty && stockChanges.isEmpty && outbox.isEmpty && spentWatches.isEmpty && scheduled.isEmpty && digestItems.isEmpty
    }

    mutating func add(_ notification: NewNotification, deliveries: [NewDelivery]) {
        notifications.append(notification)
        self.deliveries += deliveries
    }
}
