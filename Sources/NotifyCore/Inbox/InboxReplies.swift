/// A stored notification as the queries return it.
public struct StoredNotification: Sendable, Equatable {
    public var id: String
    public var userID: String
    public var title: String
    public var message: String
    public var read: Bool
    /// RFC 3339, UTC.
    public var createdAt: String
    public var type: String
    public var metadata: [String: String]

    public init(
        id: String, userID: String, title: String, message: String, read: Bool, createdAt: String, type: String,
        metadata: [String: String]
    ) {
        self.id = id
        self.userID = userID
        self.title = title
        self.message = message
        self.read = read
        self.createdAt = createdAt
        self.type = type
        self.metadata = metadata
    }
}

/// Reply bodies, shaped exactly as the catalog's response schemas (`additionalProperties: false`).
public enum InboxReplies {
    /// `GetUserNotificationsResponse`.
    public static func userNotifications(userID: String, _ notifications: [StoredNotification]) -> JSONValue {
        .object([
            ("userId", .string(userID)),
            (
                "notifications",
                .array(
                    notifications.map { notification in
                        .object([
                            ("notificationId", .string(notification.id)), ("title", .string(notification.title)),
                            ("message", .string(notification.message)), ("status", .string(notification.read ? "read" : "unread")),
                            ("createdAt", .string(notification.createdAt)),
                        ])
                    })
            ),
        ])
    }

    /// `GetNotificationDetailsResponse`; `metadata` appears only when it has the required `orderId`, and holds
    /// only the keys the schema allows.
    public static func details(_ notification: StoredNotification) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("notificationId", .string(notification.id)), ("title", .string(notification.title)),
            ("message", .string(notification.message)), ("status", .string(notification.read ? "read" : "unread")),
            ("userId", .string(notification.userID)), ("createdAt", .string(notification.createdAt)),
            ("type", .string(notification.type)),
        ]
        if let orderID = notification.metadata["orderId"] {
            var metadata: [(String, JSONValue)] = [("orderId", .string(orderID))]
            if let provider = notification.metadata["shippingProvider"] { metadata.append(("shippingProvider", .string(provider))) }
            members.append(("metadata", .object(metadata)))
        }
        return .object(members)
    }

    public static func markedRead(_ notificationID: String) -> JSONValue {
        .object([("notificationId", .string(notificationID)), ("status", .string("read"))])
    }

    public static func watching(userID: String, productID: String) -> JSONValue {
        .object([("userId", .string(userID)), ("productId", .string(productID)), ("watching", .bool(true))])
    }

    /// `{items: [{productId, warehouseId, quantity, outOfStock, asOf}]}`.
    public static func stockLevels(_ levels: [(productID: String, warehouseID: String, quantity: Int, outOfStock: Bool, asOf: String)])
        -> JSONValue
    {
        .object([
            (
                "items",
                .array(
                    levels.map { level in
                        .object([
                            ("productId", .string(level.productID)), ("warehouseId", .string(level.warehouseID)),
                            ("quantity", .int(level.quantity)), ("outOfStock", .bool(level.outOfStock)), ("asOf", .string(level.asOf)),
                        ])
                    })
            )
        ])
    }
}
