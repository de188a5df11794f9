import Foundation

/// The RPC commands this service answers, by the request's `type` property: those of `CONTRACT.md`, plus
/// `GetStockLevels` (an extension, documented in the README).
public enum RPCCommand: String, Sendable, CaseIterable {
    case getUserNotifications = "GetUserNotifications"
    case getNotificationDetails = "GetNotificationDetails"
    case markNotificationRead = "MarkNotificationRead"
    case watchProduct = "WatchProduct"
    case getStockLevels = "GetStockLevels"

    /// Requests are small: 16 KiB is plenty; a larger body is not even read (a 400 names its size).
    public static let maxRequestBytes = 16 * 1024
}

/// `GetUserNotifications {userId, status?: "unread" | "all", limit?: 1...100, offset?: >= 0}`.
public struct GetUserNotifications: Sendable, Equatable {
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

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
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
}

/// `GetNotificationDetails {notificationId, userId?}`.
public struct GetNotificationDetails: Sendable, Equatable {
    public var notificationID: String
    public var userID: String?

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do {
            notificationID = try fields.id("notificationId")
            userID = try fields.optionalID("userId")
        } catch {
            throw error.asBadRequest
        }
    }
}

/// `MarkNotificationRead {notificationId, userId}`.
public struct MarkNotificationRead: Sendable, Equatable {
    public var notificationID: String
    public var userID: String

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do {
            notificationID = try fields.id("notificationId")
            userID = try fields.id("userId")
        } catch {
            throw error.asBadRequest
        }
    }
}

/// `WatchProduct {userId, productId}`: tell this user once when the product is back in stock.
public struct WatchProduct: Sendable, Equatable {
    public var userID: String
    public var productID: String

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do {
            userID = try fields.id("userId")
            productID = try fields.id("productId")
        } catch {
            throw error.asBadRequest
        }
    }
}

/// `GetStockLevels {productId?, limit?: 1...500}`: the stock the service knows, for one product or all.
public struct GetStockLevels: Sendable, Equatable {
    public var productID: String?
    public var limit: Int

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do {
            productID = try fields.optionalID("productId")
            limit = try fields.integer("limit", default: 100, in: 1...500)
        } catch {
            throw error.asBadRequest
        }
    }
}

enum RequestBody {
    /// Requests are small: 16 KiB and 8 levels are plenty.
    static let input: JSONInput = {
        var input = JSONInput()
        input.maxBytes = RPCCommand.maxRequestBytes
        input.maxDepth = 8
        return input
    }()

    static func fields(_ body: [UInt8]) throws(RPCFailure) -> JSONFields {
        do {
            return JSONFields(try input.object(from: body))
        } catch {
            throw .badRequest("request body: \(error.detail)")
        }
    }
}

extension JSONFields {
    /// An optional whole number within `range`.
    func integer(_ key: String, default fallback: Int, in range: ClosedRange<Int>) throws(Rejection) -> Int {
        guard has(key) else { return fallback }
        let value = try number(key)
        guard value.rounded() == value, let whole = Int(exactly: value), range.contains(whole) else {
            throw Rejection(.schema, "field '\(key)' must be a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return whole
    }
}
