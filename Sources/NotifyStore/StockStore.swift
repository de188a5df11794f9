import Foundation
import NotifyCore
import Postgres

/// Stock levels, read and written inside the ingestion transaction under per-product locks.
public enum StockStore {
    /// Locks `products` until the transaction ends and loads their levels and (with `watchers`) the back-in-stock
    /// wishes for their product ids, in one statement (a product nobody watches costs one index probe). Products
    /// are locked with transaction-scoped advisory locks in a fixed order, so daemons sharing the database never
    /// decide the same transition twice.
    static func lockedState(of products: [ProductKey], watchers: Bool = true, on db: PGConnection) throws -> StockState {
        try lock(products, on: db)
        var state = StockState()
        let rows = try db.query(
            """
            SELECT k.product_id, k.warehouse_id, s.quantity, s.out_of_stock, s.as_of,
                   CASE WHEN \(watchers) THEN (SELECT array_to_json(array_agg(w.user_id ORDER BY w.user_id))::text
                                               FROM product_watches w WHERE w.product_id = k.product_id) END
            FROM unnest(\(PGTextArray(products.map(\.productID)))::text[], \(PGTextArray(products.map(\.warehouseID)))::text[])
                AS k(product_id, warehouse_id)
            LEFT JOIN stock_levels s USING (product_id, warehouse_id)
            """, prepared: true)
        for row in rows {
            let (productID, warehouseID) = try row.decode(String.self, String.self)
            if let quantity = try row.decodeIfPresent(2, as: Int.self) {
                state.levels[ProductKey(productID: productID, warehouseID: warehouseID)] = StockLevel(
                    quantity: quantity, outOfStock: try row.decode(3, as: Bool.self), asOf: try row.decode(4, as: Date.self))
            }
            if let users = try row.decodeIfPresent(5, as: String.self), state.watchers[productID] == nil {
                state.watchers[productID] = (try? JSONSerialization.jsonObject(with: Data(users.utf8))) as? [String] ?? []
            }
        }
        return state
    }

    /// Writes the levels a plan set (one per product, sorted) with one statement.
    static func write(_ changes: [StockChange], on db: PGConnection) throws {
        guard !changes.isEmpty else { return }
        try db.execute(
            """
            INSERT INTO stock_levels (product_id, warehouse_id, quantity, out_of_stock, as_of, last_event_key)
            SELECT * FROM unnest(\(PGTextArray(changes.map(\.product.productID)))::text[],
                                 \(PGTextArray(changes.map(\.product.warehouseID)))::text[],
                                 \(PGTextArray(changes.map { String($0.level.quantity) }))::bigint[],
                                 \(PGTextArray(changes.map { $0.level.outOfStock ? "t" : "f" }))::boolean[],
                                 \(PGTextArray(changes.map { $0.level.asOf.pgText! }))::timestamptz[],
                                 \(PGTextArray(changes.map(\.sourceKey)))::text[])
            ON CONFLICT (product_id, warehouse_id) DO UPDATE SET quantity = excluded.quantity,
                out_of_stock = excluded.out_of_stock, as_of = excluded.as_of,
                last_event_key = excluded.last_event_key, updated_at = now()
            """)
    }

    /// The levels the service knows, for one product or all, ordered by product and warehouse.
    public static func levels(productID: String?, limit: Int, on db: PGConnection) throws
        -> [(productID: String, warehouseID: String, quantity: Int, outOfStock: Bool, asOf: String)]
    {
        try db.query(
            """
            SELECT product_id, warehouse_id, quantity, out_of_stock, as_of::text FROM stock_levels
            WHERE \(productID)::text IS NULL OR product_id = \(productID)
            ORDER BY product_id, warehouse_id LIMIT \(limit)
            """
        ).map { row in
            let (product, warehouse, quantity, out, asOf) = try row.decode(String.self, String.self, Int.self, Bool.self, String.self)
            return (product, warehouse, quantity, out, NotificationStore.rfc3339(asOf))
        }
    }

    /// Serialises decisions about these products across daemons, until the transaction ends. Locks are taken in
    /// one fixed order (by key hash), so two transactions cannot deadlock on them.
    private static func lock(_ products: [ProductKey], on db: PGConnection) throws {
        try db.execute(
            """
            SELECT pg_advisory_xact_lock(h) FROM (
                SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest(\(PGTextArray(products.map { $0.productID + "\u{1F}" + $0.warehouseID }))::text[]) AS k
                ORDER BY h) AS ordered
            """)
    }
}
