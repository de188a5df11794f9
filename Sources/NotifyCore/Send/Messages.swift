import Foundation

/// One message as the seed platform's tracking reports it: one delivery (a send on one channel), with what it came
/// from. `receiverId` is the recipient's id in its tenant's directory; `senderId` who sent it (`key:<id>` for a
/// send, `flowmart` for FlowMart's own events).
public struct MessageRecord: Sendable, Equatable {
    public var id: String
    public var notificationID: String
    public var requestID: String?
    public var productID: String?
    public var organizationID: String?
    public var senderID: String
    public var receiverID: String
    public var channel: String
    public var status: String
    public var attempts: Int
    /// When a provider first accepted it.
    public var deliveryTime: String?
    public var createdAt: String
    public var updatedAt: String
    public var category: String
    public var title: String
    public var text: String

    public init(
        id: String, notificationID: String, requestID: String?, productID: String?, organizationID: String?,
        senderID: String, receiverID: String, channel: String, status: String, attempts: Int, deliveryTime: String?,
        createdAt: String, updatedAt: String, category: String, title: String, text: String
    ) {
        self.id = id
        self.notificationID = notificationID
        self.requestID = requestID
        self.productID = productID
        self.organizationID = organizationID
        self.senderID = senderID
        self.receiverID = receiverID
        self.channel = channel
        self.status = status
        self.attempts = attempts
        self.deliveryTime = deliveryTime
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.category = category
        self.title = title
        self.text = text
    }

    /// Retries spent: attempts after the first.
    public var retryCount: Int { max(attempts - 1, 0) }

    /// `{messageId, requestId?, notificationId, productId, organizationId, senderId, receiverId, channel, status,
    /// retryCount, deliveryTime, createdAt, updatedAt, payload: {messageCategory, title, body}}`.
    public var body: JSONValue {
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        var members: [(String, JSONValue)] = [("messageId", .string(id))]
        if let requestID { members.append(("requestId", .string(requestID))) }
        members += [
            ("notificationId", .string(notificationID)), ("productId", optional(productID)), ("organizationId", optional(organizationID)),
            ("senderId", .string(senderID)), ("receiverId", .string(receiverID)), ("channel", .string(channel)),
            ("status", .string(status)), ("retryCount", .int(retryCount)), ("deliveryTime", optional(deliveryTime)),
            ("createdAt", .string(createdAt)), ("updatedAt", .string(updatedAt)),
            ("payload", .object([("messageCategory", .string(category)), ("title", .string(title)), ("body", .string(text))])),
        ]
        return .object(members)
    }
}

/// `ListMessages {organizationId?, userId? | receiverId?, status?, createdFrom?, createdTo?, page?: >= 1 (1),
/// limit?: 1...100 (20)}` → `{messages, currentPage, pageSize, totalItems, totalPages, totalItemsExact}`, newest
/// first, as the seed's API pages them (the total counted at most ten pages past this one). The caller sees only what its key does (`Visibility`); the admin may name a `productId`.
public struct ListMessages: CommandRequest, Equatable {
    public static let command = Command.listMessages
    /// Pages reach at most this far: deeper than this, narrow the time range instead (an offset costs its rows).
    public static let maxOffset = 100_000

    public var productID: UUID?
    public var organizationID: UUID?
    /// The recipient (the seed has `user_id` and `receiver_id`; here both name the recipient's id).
    public var receiverID: String?
    public var status: DeliveryStatus?
    public var createdFrom: Date?
    public var createdTo: Date?
    public var page: Int
    public var limit: Int

    public init(
        productID: UUID? = nil, organizationID: UUID? = nil, receiverID: String? = nil, status: DeliveryStatus? = nil,
        createdFrom: Date? = nil, createdTo: Date? = nil, page: Int = 1, limit: Int = 20
    ) {
        self.productID = productID
        self.organizationID = organizationID
        self.receiverID = receiverID
        self.status = status
        self.createdFrom = createdFrom
        self.createdTo = createdTo
        self.page = page
        self.limit = limit
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            productID = try fields.optionalUUID(try fields.spelling("productId", "product_id"))
            organizationID = try fields.optionalUUID(try fields.spelling("organizationId", "organization_id"))
            let user = try fields.optionalID(try fields.spelling("userId", "user_id"))
            let receiver = try fields.optionalID(try fields.spelling("receiverId", "receiver_id"))
            if let user, let receiver, user != receiver {
                throw Rejection(.schema, "fields 'userId' and 'receiverId' both name the recipient; give one")
            }
            receiverID = receiver ?? user
            status = try fields.optionalChoice("status", DeliveryStatus.self)
            let from = try fields.spelling("createdFrom", "created_from")
            createdFrom = fields.has(from) ? try fields.timestamp(from) : nil
            let to = try fields.spelling("createdTo", "created_to")
            createdTo = fields.has(to) ? try fields.timestamp(to) : nil
            if let createdFrom, let createdTo, createdTo < createdFrom {
                throw Rejection(.schema, "field 'createdTo' is before 'createdFrom'")
            }
            page = try fields.integer("page", default: 1, in: 1...Self.maxOffset)
            limit = try fields.integer(try fields.spelling("limit", "page_size"), default: 20, in: 1...100)
            guard (page - 1) * limit <= Self.maxOffset else {
                throw Rejection(.schema, "field 'page' reaches past \(Self.maxOffset) messages; narrow 'createdFrom'/'createdTo'")
            }
        } catch {
            throw error.asBadRequest
        }
    }

    public var offset: Int { (page - 1) * limit }

    /// How many matching rows are counted at most: this page's, and ten pages beyond it. Counting every row of a busy
    /// tenant on every call would cost the shared query pool more than the page does; this never costs more than the
    /// page's own offset. A count that reaches it is a lower bound (`totalItemsExact: false`).
    public var countLimit: Int { offset + 10 * limit + 1 }

    /// How long one listing may run in the database before it is cancelled: the query pool is shared with every RPC,
    /// so no call, whatever its filters, holds a connection longer.
    public static let timeLimitMilliseconds = 5_000

    /// The answer to a listing cancelled at `timeLimitMilliseconds`: not retried, since the same listing would take as long.
    public static let tooSlow = CommandFailure(
        status: 503, code: "query-timeout",
        message:
            "the listing took longer than \(timeLimitMilliseconds / 1000) s; narrow it with createdFrom/createdTo, status or receiverId")

    public var body: JSONValue {
        var members: [(String, JSONValue)] = [("page", .int(page)), ("limit", .int(limit))]
        if let productID { members.append(("productId", .string(productID.uuidString.lowercased()))) }
        if let organizationID { members.append(("organizationId", .string(organizationID.uuidString.lowercased()))) }
        if let receiverID { members.append(("receiverId", .string(receiverID))) }
        if let status { members.append(("status", .string(status.rawValue))) }
        if let createdFrom { members.append(("createdFrom", .string(RFC3339.string(from: createdFrom)))) }
        if let createdTo { members.append(("createdTo", .string(RFC3339.string(from: createdTo)))) }
        return .object(members)
    }

    /// `{messages, currentPage, pageSize, totalItems, totalPages, totalItemsExact}`; `total` is what was counted, at
    /// most `countLimit` (then at least that many match, and the totals say so).
    public func reply(_ messages: [MessageRecord], total: Int) -> JSONValue {
        .object([
            ("messages", .array(messages.map(\.body))), ("currentPage", .int(page)), ("pageSize", .int(limit)),
            ("totalItems", .int(total)), ("totalPages", .int((total + limit - 1) / limit)), ("totalItemsExact", .bool(total < countLimit)),
        ])
    }
}

/// `GetMessage {messageId}` → the message; 404 when the caller cannot see it.
public struct GetMessage: CommandRequest, Equatable {
    public static let command = Command.getMessage
    public var messageID: String

    public init(messageID: String) { self.messageID = messageID }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            guard let id = try fields.optionalUUID(try fields.spelling("messageId", "message_id")) else {
                throw Rejection(.schema, "missing required field 'messageId'")
            }
            messageID = id.uuidString.lowercased()
        } catch {
            throw error.asBadRequest
        }
    }

    public var body: JSONValue { .object([("messageId", .string(messageID))]) }
}
