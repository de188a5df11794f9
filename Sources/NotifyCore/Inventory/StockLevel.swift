import Foundation

/// What the service knows about one product in one warehouse.
public struct StockLevel: Sendable, Equatable {
    public var quantity: Int
    public var outOfStock: Bool
    /// Timestamp of the adjustment that set this level.
    public var asOf: Date

    public init(quantity: Int, outOfStock: Bool, asOf: Date) {
        self.quantity = quantity
        self.outOfStock = outOfStock
        self.asOf = asOf
    }
}

/// The stock rule, in one place.
///
/// An adjustment carries the absolute new quantity, so the latest one (by event timestamp) defines the level:
/// - An adjustment older than the level's `asOf` arrived out of order; it is recorded (deduplicated) but changes
///   nothing and announces nothing.
/// - A product is out of stock at zero or below. Moving from in stock to out of stock is a stock-out: exactly one
///   OutOfStock, with the last level seen before it (`last_available_quantity`). Another adjustment while out of
///   stock announces nothing until the product has been back above zero.
/// - For a product seen for the first time, the level before the adjustment is its `previousQuantity` (given, or
///   `newQuantity - adjustedQuantity`): a first event taking a product from 3 to 0 is a stock-out; one taking it
///   from 0 to -2 is not.
/// - Crossing from above the low-stock threshold to at or below it, while still above zero, is low stock.
/// - Going from zero or below to above zero is back in stock.
public enum StockRule {
    public enum Transition: Sendable, Equatable {
        case none
        /// In stock to zero or below; `lastAvailable` is the level just before.
        case outOfStock(lastAvailable: Int)
        /// From above the low-stock threshold to at or below it, still above zero.
        case lowStock(threshold: Int)
        /// From zero or below to above zero.
        case backInStock
    }

    /// The level after `adjustment`, and the transition it makes; nil level means "stale, keep the current one".
    public static func apply(
        _ adjustment: InventoryAdjusted, to current: StockLevel?, lowStockThreshold: Int = 0
    ) -> (level: StockLevel?, transition: Transition) {
        if let current, adjustment.timestamp < current.asOf { return (nil, .none) }
        let before = current?.quantity ?? adjustment.previousQuantity
        let wasOut = current?.outOfStock ?? (adjustment.previousQuantity <= 0)
        let isOut = adjustment.newQuantity <= 0
        let level = StockLevel(quantity: adjustment.newQuantity, outOfStock: isOut, asOf: adjustment.timestamp)
        switch (wasOut, isOut) {
        case (false, true): return (level, .outOfStock(lastAvailable: before))
        case (true, false): return (level, .backInStock)
        case (false, false) where before > lowStockThreshold && adjustment.newQuantity <= lowStockThreshold:
            return (level, .lowStock(threshold: lowStockThreshold))
        default: return (level, .none)
        }
    }
}

/// OutOfStock 0.0.4, as published on `inventory.out-of-stock`.
public struct OutOfStock: Sendable, Equatable {
    /// The catalog version of the schema this body follows.
    public static let version = "0.0.4"

    public var eventID: String
    public var timestamp: Date
    public var productID: String
    /// The level before the stock-out; nil when unknown (a stock-out found by reconciliation for an untracked product).
    public var lastAvailableQuantity: Int?
    public var warehouseID: String

    public init(eventID: String, timestamp: Date, productID: String, lastAvailableQuantity: Int?, warehouseID: String) {
        self.eventID = eventID
        self.timestamp = timestamp
        self.productID = productID
        self.lastAvailableQuantity = lastAvailableQuantity
        self.warehouseID = warehouseID
    }

    /// `{event_id, timestamp, product_id, last_available_quantity?, warehouse_id?}`.
    public var body: JSONValue {
        var members: [(String, JSONValue)] = [
            ("event_id", .string(eventID)), ("timestamp", .string(RFC3339.string(from: timestamp))),
            ("product_id", .string(productID)),
        ]
        if let lastAvailableQuantity { members.append(("last_available_quantity", .int(lastAvailableQuantity))) }
        if !warehouseID.isEmpty { members.append(("warehouse_id", .string(warehouseID))) }
        return .object(members)
    }
}
