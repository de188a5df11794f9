import NotifyCore
import Postgres

/// Back-in-stock wishes (`WatchProduct`): kept until the notification they cause spends them.
public enum WatchStore {
    /// Records that `userID` wants to hear when `productID` is back in stock (idempotent).
    public static func watch(productID: String, userID: String, on db: PGConnection) throws {
        try db.execute("""
            INSERT INTO product_watches (product_id, user_id) VALUES (\(productID), \(userID))
            ON CONFLICT DO NOTHING
            """)
    }

    /// Who wished for each of `productIDs`, sorted; read under the products' locks in the ingestion transaction.
    static func watchers(of productIDs: [String], on db: PGConnection) throws -> [String: [String]] {
        var watchers: [String: [String]] = [:]
        for row in try db.query("""
            SELECT product_id, user_id FROM product_watches WHERE product_id = ANY(\(PGTextArray(productIDs))::text[])
            ORDER BY product_id, user_id
            """, prepared: true) {
            let (product, user) = try row.decode(String.self, String.self)
            watchers[product, default: []].append(user)
        }
        return watchers
    }

    /// Deletes the wishes a plan spent (and only those).
    static func delete(_ spent: [SpentWatch], on db: PGConnection) throws {
        guard !spent.isEmpty else { return }
        try db.execute("""
            DELETE FROM product_watches WHERE (product_id, user_id) IN (
                SELECT * FROM unnest(\(PGTextArray(spent.map(\.productID)))::text[], \(PGTextArray(spent.map(\.userID)))::text[]))
            """)
    }
}
