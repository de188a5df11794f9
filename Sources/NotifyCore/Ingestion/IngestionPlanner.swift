import Foundation

/// What consumed events become, decided without I/O: the rules and templates turn payments into notifications,
/// the stock rule and the inventory policy turn adjustments into stock changes, OutOfStock events and notices.
///
/// Ingestion runs it in two steps: `effect(of:)` per event while the previous batch commits, then `plan(_:state:)`
/// inside the transaction, once the deduplication table says which events are new and the products' levels are
/// loaded under their locks. The store writes what the plan says and decides nothing. Reconciliation's stock-outs
/// (`reconcile`) are planned here too: they are the inventory service's word taken in.
public struct IngestionPlanner: Sendable {
    public let renderer: NotificationRenderer
    public let policy: InventoryPolicy
    /// Where OutOfStock events are published (the contract's events exchange unless configured otherwise).
    public let outOfStockExchange: String
    /// What the notifications become: their deliveries, and the jobs or digest items that carry them.
    public let delivery: DeliveryPlanner

    public init(
        renderer: NotificationRenderer, policy: InventoryPolicy, outOfStockExchange: String,
        deliveringChannels: Set<NotificationChannel> = [.inApp], workExchange: String = "notifications.work",
        newID: @escaping @Sendable () -> String
    ) {
        self.renderer = renderer
        self.policy = policy
        self.outOfStockExchange = outOfStockExchange
        delivery = DeliveryPlanner(deliveringChannels: deliveringChannels, workExchange: workExchange, newID: newID)
    }

    /// Mints ids (notifications, deliveries, OutOfStock `event_id`s): random UUIDs in production (the daemon's
    /// fast generator), a sequence in tests.
    public var newID: @Sendable () -> String { delivery.newID }

    /// What a validated event asks for on its own.
    public func effect(of decoded: EventDecoder.Decoded) -> ConsumedEvent {
        let effect: EventEffect
        switch decoded.event {
        case .payment(let payment):
            effect = renderer.notification(for: payment, eventKey: decoded.key, id: newID()).map(EventEffect.notify) ?? .recordOnly
        case .inventory(let adjustment):
            effect = .adjustStock(adjustment)
        }
        return ConsumedEvent(consumer: decoded.kind.rawValue, key: decoded.key, effect: effect)
    }

    /// The products whose state `plan` needs, sorted (the order their locks are taken in).
    public static func products(of events: [ConsumedEvent]) -> [ProductKey] {
        Set(events.compactMap(\.adjustment).map(ProductKey.init)).sorted()
    }

    /// The plan for `fresh`: the events of a batch the deduplication table had not seen, first occurrence of each key only, in
    /// delivery order. Adjustments apply one after another, each to the level the previous one left.
    public func plan(_ fresh: [ConsumedEvent], state: StockState) -> CommitPlan {
        var plan = CommitPlan()
        var levels = state.levels
        var watchers = state.watchers
        var changed: [ProductKey: StockChange] = [:]
        func notify(_ notifications: [NewNotification]) { delivery.add(notifications, to: &plan) }
        for event in fresh {
            switch event.effect {
            case .notify(let notification):
                notify([notification])
            case .recordOnly:
                break
            case .adjustStock(let adjustment):
                let product = ProductKey(adjustment)
                let threshold = policy.lowStockThreshold(for: adjustment.productID)
                let before = levels[product]?.quantity ?? adjustment.previousQuantity
                let (level, transition) = StockRule.apply(adjustment, to: levels[product], lowStockThreshold: threshold)
                guard let level else { continue }
                levels[product] = level
                changed[product] = StockChange(product: product, level: level, sourceKey: event.key)
                let notice = { (kind: StockNotice.Kind) in
                    StockNotice(
                        kind: kind, productID: adjustment.productID, warehouseID: adjustment.warehouseID,
                        quantity: adjustment.newQuantity, previousQuantity: before, threshold: threshold,
                        eventKey: event.key)
                }
                switch transition {
                case .outOfStock(let lastAvailable):
                    let outOfStock = OutOfStock(
                        eventID: newID(), timestamp: adjustment.timestamp, productID: adjustment.productID,
                        lastAvailableQuantity: lastAvailable, warehouseID: adjustment.warehouseID)
                    plan.outbox.append(OutboxMessage(outOfStock, exchange: outOfStockExchange, correlationID: adjustment.eventID))
                    notify(renderer.notifications(for: notice(.outOfStock), recipients: policy.watchers, newID: newID))
                case .lowStock:
                    notify(renderer.notifications(for: notice(.lowStock), recipients: policy.watchers, newID: newID))
                case .backInStock:
                    // The wishes are spent by this notice (whichever warehouse it is for), so each is told once.
                    let users = watchers.removeValue(forKey: adjustment.productID) ?? []
                    plan.spentWatches += users.map { SpentWatch(productID: adjustment.productID, userID: $0) }
                    notify(renderer.notifications(for: notice(.backInStock), recipients: users, newID: newID))
                case .none:
                    break
                }
            }
        }
        plan.stockChanges = changed.values.sorted { $0.product < $1.product }
        return plan
    }

    /// The plan for a stock-out the inventory service reports (`GetInventoryList`) and this service has no record
    /// of; nil when the product is already known to be out of stock. The known level's time is kept, so a later
    /// adjustment still applies; a product never seen gets `now`.
    public func reconcile(_ item: InventoryList.Item, known: StockLevel?, round: String, now: Date) -> CommitPlan? {
        if known?.outOfStock == true { return nil }
        let product = ProductKey(productID: item.productID, warehouseID: item.location)
        var plan = CommitPlan()
        plan.stockChanges = [
            StockChange(
                product: product, level: StockLevel(quantity: item.quantity, outOfStock: true, asOf: known?.asOf ?? now),
                sourceKey: round)
        ]
        let event = OutOfStock(
            eventID: newID(), timestamp: now, productID: item.productID,
            lastAvailableQuantity: known?.quantity, warehouseID: item.location)
        plan.outbox = [OutboxMessage(event, exchange: outOfStockExchange, correlationID: round)]
        return plan
    }
}
