import Foundation

/// What one consumed event asks for, decided from the event alone (before any stored state is known).
public enum EventEffect: Sendable, Equatable {
    /// A notification (a payment a rule asks to announce).
    case notify(NewNotification)
    /// A stock adjustment: what it causes depends on the stored level, so the planner decides it under the lock.
    case adjustStock(InventoryAdjusted)
    /// Recorded for deduplication and nothing else (no rule asks for a notification).
    case recordOnly
}

/// A consumed event with its deduplication key (`consumer`, `key`) and what it asks for.
public struct ConsumedEvent: Sendable, Equatable {
    public var consumer: String
    public var key: String
    public var effect: EventEffect

    public init(consumer: String, key: String, effect: EventEffect) {
        self.consumer = consumer
        self.key = key
        self.effect = effect
    }

    /// The stock adjustment, when the event is one.
    public var adjustment: InventoryAdjusted? {
        if case .adjustStock(let adjustment) = effect { adjustment } else { nil }
    }
}

/// One product in one warehouse (`""` when the events name none): the unit of stock and of locking.
public struct ProductKey: Sendable, Hashable, Comparable {
    public var productID: String
    public var warehouseID: String

    public init(productID: String, warehouseID: String) {
        self.productID = productID
        self.warehouseID = warehouseID
    }

    public init(_ adjustment: InventoryAdjusted) {
        self.init(productID: adjustment.productID, warehouseID: adjustment.warehouseID)
    }

    public static func < (a: ProductKey, b: ProductKey) -> Bool {
        (a.productID, a.warehouseID) < (b.productID, b.warehouseID)
    }
}

/// The stored state a plan depends on, loaded under the products' locks in the transaction that writes the plan.
public struct StockState: Sendable, Equatable {
    /// Known levels; a product without one has never been seen.
    public var levels: [ProductKey: StockLevel]
    /// Back-in-stock wishes (`WatchProduct`) by product id: who asked, sorted.
    public var watchers: [String: [String]]

    public init(levels: [ProductKey: StockLevel] = [:], watchers: [String: [String]] = [:]) {
        self.levels = levels
        self.watchers = watchers
    }
}

/// A stock level to write, and the event (or reconciliation round) that set it.
public struct StockChange: Sendable, Equatable {
    public var product: ProductKey
    public var level: StockLevel
    public var sourceKey: String

    public init(product: ProductKey, level: StockLevel, sourceKey: String) {
        self.product = product
        self.level = level
        self.sourceKey = sourceKey
    }
}

/// An event to publish through the transactional outbox.
public struct OutboxMessage: Sendable, Equatable {
    public var messageID: String
    public var exchange: String
    public var routingKey: String
    public var type: String
    public var version: String
    /// What caused it: the adjustment's `event_id`, or the reconciliation round.
    public var correlationID: String
    public var body: String
    /// The relay publishes lower numbers first: 0 for high-lane delivery jobs, 1 for events and the normal
    /// lane, 2 for the low lane; so a campaign still in the outbox never holds back an urgent email.
    public var priority: Int = 1

    /// An OutOfStock 0.0.4 on its contract routing key.
    public init(_ event: OutOfStock, exchange: String, correlationID: String) {
        messageID = event.eventID
        self.exchange = exchange
        routingKey = EventKind.outOfStock.routingKey
        type = EventKind.outOfStock.rawValue
        version = OutOfStock.version
        self.correlationID = correlationID
        body = String(decoding: event.body.bytes, as: UTF8.self)
    }
}

/// A back-in-stock wish spent by the notification it caused.
public struct SpentWatch: Sendable, Hashable {
    public var productID: String
    public var userID: String

    public init(productID: String, userID: String) {
        self.productID = productID
        self.userID = userID
    }
}

/// Everything a batch of new events changes, decided without I/O and written by the store in one transaction.
public struct IngestionPlan: Sendable, Equatable {
    /// In the order they were decided (delivery order).
    public var notifications: [NewNotification] = []
    /// One per channel of each notification, written in the same transaction.
    public var deliveries: [NewDelivery] = []
    /// The final level of each product the batch changed, sorted by product.
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
    /// deliveries and jobs (due now, later, or with a digest) in order. Sends change no stock and spend no wishes, so only those are
    /// combined.
    public init(sends plans: [IngestionPlan]) {
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
