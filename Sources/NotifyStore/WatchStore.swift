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

    /// Removes every wish for `productID` and returns who made them, sorted: called in the transaction that
    /// notifies them.
    static func spend(_ productID: String, on db: PGConnection) throws -> [String] {
        try db.query("DELETE FROM product_watches WHERE product_id = \(productID) RETURNING user_id", prepared: true)
            .map { try $0.decode(0, as: String.self) }.sorted()
    }
}
