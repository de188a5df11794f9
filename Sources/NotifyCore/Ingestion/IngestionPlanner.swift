import Foundation

/// What consumed events become, decided without I/O: the rules and templates turn payments into notifications,
/// the stock rule and the inventory policy turn adjustments into stock changes, OutOfStock events and notices.
///
/// Ingestion runs it in two steps: `effect(of:)` per event while the previous batch commits, then `plan(_:state:)`
/// inside the transaction, once the inbox says which events are new and the products' levels are loaded under
/// their locks. The store writes what the plan says and decides nothing.
public struct IngestionPlanner: Sendable {
    public let renderer: NotificationRenderer
    public let policy: InventoryPolicy
    /// Where OutOfStock events are published (the contract's events exchange unless configured otherwise).
    public let outOfStockExchange: String
    /// The channels something delivers on: in-app always; another channel once its provider is configured.
    /// A delivery on any other channel is recorded `skipped` (`no-provider`), never left waiting.
    public let deliveringChannels: Set<NotificationChannel>
    /// Where delivery jobs are published, on their lane's routing key (`delivery.workExchange`).
    public let workExchange: String
    /// Mints ids (notifications, deliveries, OutOfStock `event_id`s): random UUIDs in production (the daemon's
    /// fast generator), a sequence in tests.
    public let newID: @Sendable () -> String

    public init(
        renderer: NotificationRenderer, policy: InventoryPolicy, outOfStockExchange: String,
        deliveringChannels: Set<NotificationChannel> = [.inApp], workExchange: String = "notifications.work",
        newID: @escaping @Sendable () -> String
    ) {
        self.workExchange = workExchange
        self.renderer = renderer
        self.policy = policy
        self.outOfStockExchange = outOfStockExchange
        self.deliveringChannels = deliveringChannels.union([.inApp])
        self.newID = newID
    }

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

    /// The plan for `fresh`: the events of a batch the inbox had not seen, first occurrence of each key only, in
    /// delivery order. Adjustments apply one after another, each to the level the previous one left.
    public func plan(_ fresh: [ConsumedEvent], state: StockState) -> IngestionPlan {
        var plan = IngestionPlan()
        var levels = state.levels
        var watchers = state.watchers
        var changed: [ProductKey: StockChange] = [:]
        func notify(_ notifications: [NewNotification]) { add(notifications, to: &plan) }
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
                    StockNotice(kind: kind, productID: adjustment.productID, warehouseID: adjustment.warehouseID,
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

    /// The plan for notifications decided elsewhere (the send API's): each with its deliveries and their jobs.
    public func plan(notifications: [NewNotification]) -> IngestionPlan {
        var plan = IngestionPlan()
        add(notifications, to: &plan)
        return plan
    }

    /// Each notification with its deliveries; a queued one goes to its lane through the outbox, or, when the
    /// notification asks for a digest and the channel is batched, into the recipient's digest (`batched`).
    private func add(_ notifications: [NewNotification], to plan: inout IngestionPlan) {
        for notification in notifications {
            var deliveries = deliveries(of: notification)
            for index in deliveries.indices {
                guard let job = job(for: deliveries[index], of: notification) else { continue }
                if let policy = notification.digest, DigestPolicy.channels.contains(job.channel) {
                    deliveries[index].status = .batched
                    plan.digestItems.append(DigestItem(
                        job: job, kind: notification.type, policy: policy, newDigestID: newID(), newDeliveryID: newID(), exchange: workExchange))
                } else {
                    plan.outbox.append(OutboxMessage(job, exchange: workExchange))
                }
            }
            plan.add(notification, deliveries: deliveries)
        }
    }

    /// The deliveries to write for a notification: one per channel of its rule that leaves the building, queued
    /// when a provider delivers on it and skipped (`no-provider`) when none does. In-app needs no row of its own:
    /// the notification's inbox row is its delivery, delivered by the commit that writes it (so in-app-only
    /// ingestion writes nothing more than before), and the tracking queries report it from that row.
    public func deliveries(of notification: NewNotification) -> [NewDelivery] {
        notification.channels.filter { $0 != .inApp }.map { channel in
            // The catalog renders an email for every rule with the channel; without one nothing could be sent.
            let reason = !deliveringChannels.contains(channel) ? "no-provider"
                : channel == .email && notification.email == nil ? "no-template" : nil
            return NewDelivery(
                id: newID(), notificationID: notification.id, userID: notification.userID, channel: channel,
                status: reason == nil ? .queued : .skipped, reason: reason, tenant: notification.tenant)
        }
    }

    /// The job that carries a queued delivery to its lane, with the content its channel sends; nil for a delivery
    /// that is not queued.
    func job(for delivery: NewDelivery, of notification: NewNotification) -> DeliveryJob? {
        guard delivery.status == .queued else { return nil }
        let content: MessageContent
        switch delivery.channel {
        case .email:
            guard let email = notification.email else { return nil }  // skipped (`no-template`) by `deliveries(of:)`
            content = email
        case .sms, .push, .webhook, .inApp:
            content = notification.channelTexts[delivery.channel] ?? MessageContent(subject: notification.title, text: notification.message, html: nil)
        }
        let fallback = notification.fallbacks[delivery.channel].flatMap { deliveringChannels.contains($0) ? $0 : nil }
        return DeliveryJob(
            deliveryID: delivery.id, notificationID: notification.id, userID: notification.userID, channel: delivery.channel,
            lane: notification.priority, transactional: notification.transactional, content: content, fallback: fallback,
            tenant: notification.tenant, retries: notification.retries, category: notification.category)
    }

    /// The plan for a stock-out the inventory service reports (`GetInventoryList`) and this service has no record
    /// of; nil when the product is already known to be out of stock. The known level's time is kept, so a later
    /// adjustment still applies; a product never seen gets `now`.
    public func reconcile(_ item: InventoryList.Item, known: StockLevel?, round: String, now: Date) -> IngestionPlan? {
        if known?.outOfStock == true { return nil }
        let product = ProductKey(productID: item.productID, warehouseID: item.location)
        var plan = IngestionPlan()
        plan.stockChanges = [StockChange(
            product: product, level: StockLevel(quantity: item.quantity, outOfStock: true, asOf: known?.asOf ?? now),
            sourceKey: round)]
        let event = OutOfStock(eventID: newID(), timestamp: now, productID: item.productID,
                               lastAvailableQuantity: known?.quantity, warehouseID: item.location)
        plan.outbox = [OutboxMessage(event, exchange: outOfStockExchange, correlationID: round)]
        return plan
    }
}
