import NotifyCore
import Postgres

/// Back-in-stock wishes (`WatchProduct`): kept until the notification they cause spends them.
public enum WatchStore {
    /// Records that `userID` wants to hear when `productID` is back in stock (idempotent).
    public static func watch(productID: String, userID: String, on db: PGConnection) throws {
        try db.execute(
            """
            INSERT INTO product_watches (product_id, user_id) VALUES (\(productID), \(userID))
            ON CONFLICT DO NOTHING
            """)
    }

    /// Deletes the wishes a plan spent (and only those).
    static func delete(_ spent: [SpentWatch], on db: PGConnection) throws {
        guard !spent.isEmpty else { return }
        try db.execute(
            """
            DELETE FROM product_watches WHERE (product_id, user_id) IN (
                SELECT * FROM unnest(\(PGTextArray(spent.map(\.productID)))::text[], \(PGTextArray(spent.map(\.userID)))::text[]))
            """)
    }
}
