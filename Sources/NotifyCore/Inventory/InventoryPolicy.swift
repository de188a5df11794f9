/// Who hears about stock, and when stock counts as low. Configuration, not code.
public struct InventoryPolicy: Sendable, Equatable {
    /// Users told about every stock-out and low-stock crossing (the inventory team).
    public var watchers: [String]
    /// Low stock is at or below this; 0 turns low-stock notices off.
    public var lowStockThreshold: Int
    /// Per-product thresholds that replace `lowStockThreshold`.
    public var lowStockOverrides: [String: Int]

    public init(watchers: [String] = [], lowStockThreshold: Int = 10, lowStockOverrides: [String: Int] = [:]) {
        self.watchers = watchers
        self.lowStockThreshold = lowStockThreshold
        self.lowStockOverrides = lowStockOverrides
    }

    public func lowStockThreshold(for productID: String) -> Int {
        lowStockOverrides[productID] ?? lowStockThreshold
    }
}

/// A stock change people are told about.
public struct StockNotice: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case outOfStock = "OutOfStock", lowStock = "LowStock", backInStock = "BackInStock"
    }

    public var kind: Kind
    public var productID: String
    public var warehouseID: String
    public var quantity: Int
    /// The level before the change.
    public var previousQuantity: Int
    public var threshold: Int
    /// The adjustment that caused it: notifications keep it as their source.
    public var eventKey: String

    public init(kind: Kind, productID: String, warehouseID: String, quantity: Int, previousQuantity: Int, threshold: Int, eventKey: String)
    {
        self.kind = kind
        self.productID = productID
        self.warehouseID = warehouseID
        self.quantity = quantity
        self.previousQuantity = previousQuantity
        self.threshold = threshold
        self.eventKey = eventKey
    }

    /// Values a template may name.
    public var templateFields: [String: String] {
        [
            "productId": productID, "warehouseId": warehouseID, "quantity": String(quantity),
            "previousQuantity": String(previousQuantity), "threshold": String(threshold),
        ]
    }

    public static let templateFieldNames: Set<String> = ["productId", "warehouseId", "quantity", "previousQuantity", "threshold"]
}
