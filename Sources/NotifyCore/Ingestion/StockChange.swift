import Foundation

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

/// A back-in-stock wish spent by the notification it caused.
public struct SpentWatch: Sendable, Hashable {
    public var productID: String
    public var userID: String

    public init(productID: String, userID: String) {
        self.productID = productID
        self.userID = userID
    }
}
