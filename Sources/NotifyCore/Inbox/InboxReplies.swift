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
    public static func userNotifications(userID: String, _ notifications: [StoredNotification]) -> [String: Any] {
        [
            "userId": userID,
            "notifications": notifications.map { notification -> [String: Any] in
                [
                    "notificationId": notification.id, "title": notification.title, "message": notification.message,
                    "status": notification.read ? "read" : "unread", "createdAt": notification.createdAt,
                ]
            },
        ]
    }

    /// `GetNotificationDetailsResponse`; `metadata` appears only when it has the required `orderId`, and holds
    /// only the keys the schema allows.
    public static func details(_ notification: StoredNotification) -> [String: Any] {
        var body: [String: Any] = [
            "notificationId": notification.id, "title": notification.title, "message": notification.message,
            "status": notification.read ? "read" : "unread", "userId": notification.userID,
            "createdAt": notification.createdAt, "type": notification.type,
        ]
        if let orderID = notification.metadata["orderId"] {
            var metadata = ["orderId": orderID]
            metadata["shippingProvider"] = notification.metadata["shippingProvider"]
            body["metadata"] = metadata
        }
        return body
    }

    public static func markedRead(_ notificationID: String) -> [String: Any] {
        ["notificationId": notificationID, "status": "read"]
    }
}
