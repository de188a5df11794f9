/// The names other FlowMart services rely on (the contract, docs/api.md): exchanges, queues and routing keys.
///
/// Every name can be changed in configuration; the defaults are the contract's.
public struct ContractNames: Sendable, Equatable {
    /// Topic exchange carrying FlowMart domain events. Default `flowmart.events`.
    public var eventsExchange = "flowmart.events"
    /// Durable queue the daemon consumes events from. Default `notifications.events`.
    public var eventsQueue = "notifications.events"
    /// Exchange through which unprocessable messages are parked. Default `notifications.dlx`.
    public var deadLetterExchange = "notifications.dlx"
    /// Durable queue holding parked messages. Default `notifications.dlq`.
    public var deadLetterQueue = "notifications.dlq"
    /// Durable queue of RPC requests (default exchange). Default `notifications.rpc`.
    public var rpcQueue = "notifications.rpc"
    /// Queue of the inventory service's RPC server, for `GetInventoryList`. Default `inventory.rpc`.
    public var inventoryRPCQueue = "inventory.rpc"

    /// Direct exchange of delivery jobs, routed by lane (`high`, `normal`, `low`). Default `notifications.work`.
    public var workExchange = "notifications.work"
    /// Lane queues are `<prefix><lane>`, retry tiers `<prefix>retry.<delay>`. Default `notifications.`.
    public var deliveryQueuePrefix = "notifications."

    public init() {}

    /// The quorum queue of a lane.
    public func laneQueue(_ lane: NotificationPriority) -> String { deliveryQueuePrefix + lane.rawValue }
    /// The fanout exchange and queue of the retry tier that waits `seconds`.
    public func retryTier(_ seconds: Int) -> String { deliveryQueuePrefix + "retry." + RetryPolicy.tierName(seconds) }

    /// Routing keys of the events the daemon consumes (bound to `eventsQueue`).
    public static let consumedRoutingKeys = [EventKind.paymentProcessed.routingKey, EventKind.inventoryAdjusted.routingKey]
}

/// The FlowMart events this service knows, by catalog id.
public enum EventKind: String, Sendable, CaseIterable {
    case paymentProcessed = "PaymentProcessed"
    case inventoryAdjusted = "InventoryAdjusted"
    case outOfStock = "OutOfStock"

    /// Routing key on the events exchange.
    public var routingKey: String {
        switch self {
        case .paymentProcessed: "payment.processed"
        case .inventoryAdjusted: "inventory.adjusted"
        case .outOfStock: "inventory.out-of-stock"
        }
    }

    /// The kind a routing key stands for; nil for keys the daemon does not handle.
    public init?(routingKey: String) {
        guard let kind = Self.allCases.first(where: { $0.routingKey == routingKey }) else { return nil }
        self = kind
    }
}
