import Foundation

/// `GetUserNotifications {userId, status?: "unread" | "all", limit?: 1...100, offset?: >= 0}`.
public struct GetUserNotifications: CommandRequest, Equatable {
    public static let command = Command.getUserNotifications
    public var userID: String
    public var unreadOnly: Bool
    public var limit: Int
    public var offset: Int

    public init(userID: String, unreadOnly: Bool = false, limit: Int = 20, offset: Int = 0) {
        self.userID = userID
        self.unreadOnly = unreadOnly
        self.limit = limit
        self.offset = offset
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            userID = try fields.id("userId")
            switch try fields.optionalString("status") ?? "all" {
            case "all": unreadOnly = false
            case "unread": unreadOnly = true
            default: throw Rejection(.schema, "field 'status' must be \"unread\" or \"all\"")
            }
            limit = try fields.integer("limit", default: 20, in: 1...100)
            offset = try fields.integer("offset", default: 0, in: 0...1_000_000)
        } catch {
            throw error.asBadRequest
        }
    }

    public var body: JSONValue {
        .object([
            ("userId", .string(userID)), ("status", .string(unreadOnly ? "unread" : "all")),
            ("limit", .int(limit)), ("offset", .int(offset)),
        ])
    }
}

/// `GetNotificationDetails {notificationId, userId?}`.
public struct GetNotificationDetails: CommandRequest, Equatable {
    public static let command = Command.getNotificationDetails
    public var notificationID: String
    public var userID: String?

    public init(notificationID: String, userID: String? = nil) {
        self.notificationID = notificationID
        self.userID = userID
    }

    public var body: JSONValue {
        .object([("notificationId", .string(notificationID))] + (userID.map { [("userId", JSONValue.string($0))] } ?? []))
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do {
            notificationID = try fields.id("notificationId")
            userID = try fields.optionalID("userId")
        } catch {
            throw error.asBadRequest
        }
    }
}

/// `MarkNotificationRead {notificationId, userId}`.
public struct MarkNotificationRead: CommandRequest, Equatable {
    public static let command = Command.markNotificationRead
    public var notificationID: String
    public var userID: String

    public init(notificationID: String, userID: String) {
        self.notificationID = notificationID
        self.userID = userID
    }

    public var body: JSONValue { .object([("notificationId", .string(notificationID)), ("userId", .string(userID))]) }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do {
            notificationID = try fields.id("notificationId")
            userID = try fields.id("userId")
        } catch {
            throw error.asBadRequest
        }
    }
}

/// `WatchProduct {userId, productId}`: tell this user once when the product is back in stock.
public struct WatchProduct: CommandRequest, Equatable {
    public static let command = Command.watchProduct
    public var userID: String
    public var productID: String

    public init(userID: String, productID: String) {
        self.userID = userID
        self.productID = productID
    }

    public var body: JSONValue { .object([("userId", .string(userID)), ("productId", .string(productID))]) }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do {
            userID = try fields.id("userId")
            productID = try fields.id("productId")
        } catch {
            throw error.asBadRequest
        }
    }
}

/// `GetStockLevels {productId?, limit?: 1...500}`: the stock the service knows, for one product or all.
public struct GetStockLevels: CommandRequest, Equatable {
    public static let command = Command.getStockLevels
    public var productID: String?
    public var limit: Int

    public init(productID: String? = nil, limit: Int = 100) {
        self.productID = productID
        self.limit = limit
    }

    public var body: JSONValue {
        .object((productID.map { [("productId", JSONValue.string($0))] } ?? []) + [("limit", .int(limit))])
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do {
            productID = try fields.optionalID("productId")
            limit = try fields.integer("limit", default: 100, in: 1...500)
        } catch {
            throw error.asBadRequest
        }
    }
}

extension JSONFields {
    /// An optional whole number within `range`.
    func integer(_ key: String, default fallback: Int, in range: ClosedRange<Int>) throws(Rejection) -> Int {
        guard has(key) else { return fallback }
        let value = try number(key)
        guard value.rounded() == value, let whole = Int(exactly: value), range.contains(whole) else {
            throw Rejection(.schema, "field '\(path)\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return whole
    }
}
