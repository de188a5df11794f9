import Foundation
import NotifyCore
import Postgres

/// Stock levels and the OutOfStock events they cause, written inside the ingestion transaction.
public enum StockStore {
    /// Where OutOfStock events are published; fixed by the contract, configurable like every name.
    public struct Destination: Sendable {
        public var exchange: String
        public var routingKey = EventKind.outOfStock.routingKey

        public init(exchange: String) {
            self.exchange = exchange
        }
    }

    /// Applies `adjustments` (new ones only, in delivery order), queues an OutOfStock in the outbox for each
    /// stock-out, and returns the notices people are told about, with their recipients: the policy's watchers for
    /// stock-outs and low stock, and for back-in-stock the users who asked (their wishes are spent here).
    /// Products are locked (transaction-scoped advisory locks, in a fixed order) so daemons sharing the database
    /// never decide the same transition twice.
    static func apply(
        _ adjustments: [(key: String, event: InventoryAdjusted)], destination: Destination, policy: InventoryPolicy,
        on db: PGConnection
    ) throws -> [(notice: StockNotice, recipients: [String])] {
        guard !adjustments.isEmpty else { return [] }
        let products = Set(adjustments.map { Product($0.event) }).sorted()
        try lock(products, on: db)
        var levels: [Product: StockLevel] = [:]
        let rows = try db.query("""
            SELECT s.product_id, s.warehouse_id, s.quantity, s.out_of_stock, s.as_of
            FROM unnest(\(PGTextArray(products.map(\.productID)))::text[], \(PGTextArray(products.map(\.warehouseID)))::text[])
                AS k(product_id, warehouse_id)
            JOIN stock_levels s USING (product_id, warehouse_id)
            """, prepared: true)
        for row in rows {
            let (productID, warehouseID, quantity, outOfStock, asOf) =
                try row.decode(String.self, String.self, Int.self, Bool.self, Date.self)
            levels[Product(productID: productID, warehouseID: warehouseID)] =
                StockLevel(quantity: quantity, outOfStock: outOfStock, asOf: asOf)
        }
        var changed: [Product: (level: StockLevel, key: String)] = [:]
        var outOfStock: [(event: OutOfStock, correlationID: String)] = []
        var notices: [(notice: StockNotice, recipients: [String])] = []
        for (key, event) in adjustments {
            let product = Product(event)
            let threshold = policy.lowStockThreshold(for: event.productID)
            let before = levels[product]?.quantity ?? event.previousQuantity
            let (level, transition) = StockRule.apply(event, to: levels[product], lowStockThreshold: threshold)
            guard let level else { continue }
            levels[product] = level
            changed[product] = (level, key)
            func notice(_ kind: StockNotice.Kind) -> StockNotice {
                StockNotice(kind: kind, productID: event.productID, warehouseID: event.warehouseID,
                            quantity: event.newQuantity, previousQuantity: before, threshold: threshold, eventKey: key)
            }
            switch transition {
            case .outOfStock(let lastAvailable):
                outOfStock.append((OutOfStock(
                    eventID: UUID().uuidString.lowercased(), timestamp: event.timestamp, productID: event.productID,
                    lastAvailableQuantity: lastAvailable, warehouseID: event.warehouseID), event.eventID))
                notices.append((notice(.outOfStock), policy.watchers))
            case .lowStock:
                notices.append((notice(.lowStock), policy.watchers))
            case .backInStock:
                notices.append((notice(.backInStock), try WatchStore.spend(event.productID, on: db)))
            case .none:
                break
            }
        }
        if !changed.isEmpty {
            let entries = changed.sorted { $0.key < $1.key }
            try db.execute("""
                INSERT INTO stock_levels (product_id, warehouse_id, quantity, out_of_stock, as_of, last_event_key)
                SELECT * FROM unnest(\(PGTextArray(entries.map(\.key.productID)))::text[],
                                     \(PGTextArray(entries.map(\.key.warehouseID)))::text[],
                                     \(PGTextArray(entries.map { String($0.value.level.quantity) }))::bigint[],
                                     \(PGTextArray(entries.map { $0.value.level.outOfStock ? "t" : "f" }))::boolean[],
                                     \(PGTextArray(entries.map { $0.value.level.asOf.pgText! }))::timestamptz[],
                                     \(PGTextArray(entries.map(\.value.key)))::text[])
                ON CONFLICT (product_id, warehouse_id) DO UPDATE SET quantity = excluded.quantity,
                    out_of_stock = excluded.out_of_stock, as_of = excluded.as_of,
                    last_event_key = excluded.last_event_key, updated_at = now()
                """)
        }
        try enqueue(outOfStock, destination: destination, on: db)
        return notices.filter { !$0.recipients.isEmpty }
    }

    /// Records a stock-out the inventory service reports and this service has no record of, and queues its
    /// OutOfStock. Returns false (and changes nothing) when the product is already known to be out of stock.
    public static func reconcile(_ item: InventoryList.Item, round: String, destination: Destination, on db: PGConnection) throws -> Bool {
        let product = Product(productID: item.productID, warehouseID: item.location)
        try lock([product], on: db)
        let known = try db.query("""
            SELECT quantity, out_of_stock FROM stock_levels
            WHERE product_id = \(product.productID) AND warehouse_id = \(product.warehouseID)
            """, prepared: true).first.map { try $0.decode(Int.self, Bool.self) }
        if known?.1 == true { return false }
        let now = Date()
        try db.execute("""
            INSERT INTO stock_levels (product_id, warehouse_id, quantity, out_of_stock, as_of, last_event_key)
            VALUES (\(product.productID), \(product.warehouseID), \(item.quantity), true, \(now), \(round))
            ON CONFLICT (product_id, warehouse_id) DO UPDATE SET quantity = excluded.quantity, out_of_stock = true,
                last_event_key = excluded.last_event_key, updated_at = now()
            """)
        let event = OutOfStock(eventID: UUID().uuidString.lowercased(), timestamp: now, productID: item.productID,
                               lastAvailableQuantity: known?.0, warehouseID: item.location)
        try enqueue([(event, round)], destination: destination, on: db)
        return true
    }

    /// The levels the service knows, for one product or all, ordered by product and warehouse.
    public static func levels(productID: String?, limit: Int, on db: PGConnection) throws
        -> [(productID: String, warehouseID: String, quantity: Int, outOfStock: Bool, asOf: String)]
    {
        try db.query("""
            SELECT product_id, warehouse_id, quantity, out_of_stock, as_of::text FROM stock_levels
            WHERE \(productID)::text IS NULL OR product_id = \(productID)
            ORDER BY product_id, warehouse_id LIMIT \(limit)
            """).map { row in
            let (product, warehouse, quantity, out, asOf) = try row.decode(String.self, String.self, Int.self, Bool.self, String.self)
            return (product, warehouse, quantity, out, NotificationStore.rfc3339(asOf))
        }
    }

    /// Serialises decisions about these products across daemons, until the transaction ends. Locks are taken in
    /// one fixed order (by key hash), so two transactions cannot deadlock on them.
    private static func lock(_ products: [Product], on db: PGConnection) throws {
        try db.execute("""
            SELECT pg_advisory_xact_lock(h) FROM (
                SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(\(PGTextArray(products.map { $0.productID + "\u{1F}" + $0.warehouseID }))::text[]) AS k
                ORDER BY h) AS ordered
            """)
    }

    /// Queues OutOfStock events in the outbox, in order, with one statement.
    private static func enqueue(
        _ events: [(event: OutOfStock, correlationID: String)], destination: Destination, on db: PGConnection
    ) throws {
        guard !events.isEmpty else { return }
        try db.execute("""
            INSERT INTO outbox (message_id, exchange, routing_key, type, version, correlation_id, body)
            SELECT m, \(destination.exchange), \(destination.routingKey), \(EventKind.outOfStock.rawValue), '0.0.4', c, b
            FROM unnest(\(PGTextArray(events.map(\.event.eventID)))::text[],
                        \(PGTextArray(events.map(\.correlationID)))::text[],
                        \(PGTextArray(events.map { String(decoding: $0.event.body.bytes, as: UTF8.self) }))::text[])
                 WITH ORDINALITY AS e(m, c, b, n)
            ORDER BY n
            """)
    }

    struct Product: Hashable, Comparable {
        var productID: String
        var warehouseID: String
        init(productID: String, warehouseID: String) {
            self.productID = productID
            self.warehouseID = warehouseID
        }
        init(_ event: InventoryAdjusted) {
            self.init(productID: event.productID, warehouseID: event.warehouseID)
        }
        static func < (a: Product, b: Product) -> Bool {
            (a.productID, a.warehouseID) < (b.productID, b.warehouseID)
        }
    }
}
