import Foundation

/// A delivery as the tracking queries report it.
public struct DeliveryRecord: Sendable, Equatable {
    /// One state the delivery entered.
    public struct Entry: Sendable, Equatable {
        public var status: String
        public var at: String
        public var attempt: Int
        public var errorCode: String?
        public var errorClass: String?
        public var detail: String?

        public init(status: String, at: String, attempt: Int, errorCode: String?, errorClass: String?, detail: String?) {
            self.status = status
            self.at = at
            self.attempt = attempt
            self.errorCode = errorCode
            self.errorClass = errorClass
            self.detail = detail
        }
    }

    public var id: String
    public var channel: String
    public var status: String
    public var attempts: Int
    public var providerMessageID: String?
    public var lastErrorCode: String?
    public var lastErrorClass: String?
    public var lastErrorMessage: String?
    public var updatedAt: String
    public var history: [Entry]
    /// Set for `ListDeliveries`, where a line is not under its notification.
    public var notificationID: String?
    public var userID: String?
    public var createdAt: String?

    public init(
        id: String, channel: String, status: String, attempts: Int, providerMessageID: String?,
        lastErrorCode: String?, lastErrorClass: String?, lastErrorMessage: String? = nil, updatedAt: String,
        history: [Entry]
    ) {
        self.lastErrorMessage = lastErrorMessage
        self.id = id
        self.channel = channel
        self.status = status
        self.attempts = attempts
        self.providerMessageID = providerMessageID
        self.lastErrorCode = lastErrorCode
        self.lastErrorClass = lastErrorClass
        self.updatedAt = updatedAt
        self.history = history
    }

    /// `{deliveryId, channel, status, attempts, providerMessageId, lastError: {code, class, message} | null,
    /// updatedAt, history: [{status, at, attempt, error?: {code, class, message}, detail?}]}`; `ListDeliveries`
    /// lines also carry `notificationId`, `userId` and `createdAt`, and no history.
    public func body(withHistory: Bool = true) -> JSONValue {
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        let lastError: JSONValue =
            lastErrorCode == nil && lastErrorClass == nil
            ? .null
            : .object([
                ("code", optional(lastErrorCode)), ("class", optional(lastErrorClass)), ("message", .string(lastErrorMessage ?? "")),
            ])
        var members: [(String, JSONValue)] = [("deliveryId", .string(id))]
        if let notificationID { members.append(("notificationId", .string(notificationID))) }
        if let userID { members.append(("userId", .string(userID))) }
        members += [
            ("channel", .string(channel)), ("status", .string(status)), ("attempts", .int(attempts)),
            ("providerMessageId", optional(providerMessageID)), ("lastError", lastError), ("updatedAt", .string(updatedAt)),
        ]
        if let createdAt { members.append(("createdAt", .string(createdAt))) }
        if withHistory {
            members.append(
                (
                    "history",
                    .array(
                        history.map { entry in
                            var members: [(String, JSONValue)] = [
                                ("status", .string(entry.status)), ("at", .string(entry.at)), ("attempt", .int(entry.attempt)),
                            ]
                            if let code = entry.errorCode {
                                members.append(
                                    (
                                        "error",
                                        .object([
                                            ("code", .string(code)), ("class", optional(entry.errorClass)),
                                            ("message", .string(entry.detail ?? "")),
                                        ])
                                    ))
                            } else if let detail = entry.detail {
                                members.append(("detail", .string(detail)))
                            }
                            return .object(members)
                        })
                ))
        }
        return .object(members)
    }
}

/// `GetDeliveryStatus {notificationId}` (an extension of the contract): every channel of one notification, with
/// its status, attempts, provider id, last error and history; 404 for an unknown notification.
public struct GetDeliveryStatus: CommandRequest, Equatable {
    public static let command = Command.getDeliveryStatus
    public var notificationID: String

    public init(notificationID: String) { self.notificationID = notificationID }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do { notificationID = try fields.id("notificationId") } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object([("notificationId", .string(notificationID))]) }

    /// The 200 reply: `{notificationId, deliveries: [...]}`.
    public static func reply(notificationID: String, _ deliveries: [DeliveryRecord]) -> JSONValue {
        .object([("notificationId", .string(notificationID)), ("deliveries", .array(deliveries.map { $0.body() }))])
    }
}

/// `ListDeliveries {userId?, channel?, status?, since?, limit?: 1...100, cursor?}`: deliveries that leave the
/// building (in-app ones are the inbox), newest first, without their history.
public struct ListDeliveries: CommandRequest, Equatable {
    public static let command = Command.listDeliveries
    public var userID: String?
    public var channel: NotificationChannel?
    public var status: DeliveryStatus?
    /// RFC 3339; only deliveries created at or after it.
    public var since: String?
    public var limit: Int
    /// Where the previous page ended: the last line's creation time (as the database wrote it) and id.
    public var cursor: (createdAt: String, id: String)?

    public init(
        userID: String? = nil, channel: NotificationChannel? = nil, status: DeliveryStatus? = nil, since: String? = nil,
        limit: Int = 20
    ) {
        self.userID = userID
        self.channel = channel
        self.status = status
        self.since = since
        self.limit = limit
    }

    public static func == (a: ListDeliveries, b: ListDeliveries) -> Bool {
        (a.userID, a.channel, a.status, a.since, a.limit) == (b.userID, b.channel, b.status, b.since, b.limit)
            && a.cursor?.createdAt == b.cursor?.createdAt && a.cursor?.id == b.cursor?.id
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            userID = try fields.optionalID("userId")
            channel = try fields.optionalChoice("channel", NotificationChannel.self)
            status = try fields.optionalChoice("status", DeliveryStatus.self)
            if fields.has("since") {
                _ = try fields.timestamp("since")
                since = try fields.string("since")
            }
            limit = try fields.integer("limit", default: 20, in: 1...100)
            if let text = try fields.optionalString("cursor", maxLength: 96) {
                let parts = text.split(separator: "|")
                let timeCharacters = Set("0123456789-:. +")
                guard parts.count == 2, parts[0].allSatisfy(timeCharacters.contains), UUID(uuidString: String(parts[1])) != nil else {
                    throw Rejection(.schema, "field 'cursor' is not a cursor this service issued")
                }
                cursor = (String(parts[0]), String(parts[1]))
            }
        } catch {
            throw error.asBadRequest
        }
    }

    public var body: JSONValue {
        var members: [(String, JSONValue)] = [("limit", .int(limit))]
        if let userID { members.append(("userId", .string(userID))) }
        if let channel { members.append(("channel", .string(channel.rawValue))) }
        if let status { members.append(("status", .string(status.rawValue))) }
        if let since { members.append(("since", .string(since))) }
        if let cursor { members.append(("cursor", .string("\(cursor.createdAt)|\(cursor.id)"))) }
        return .object(members)
    }

    /// `{deliveries: [...], nextCursor?}`; `page` holds up to `limit + 1` lines with their creation times as stored.
    public func reply(_ page: [(record: DeliveryRecord, position: String)]) -> JSONValue {
        let shown = page.prefix(limit)
        var members: [(String, JSONValue)] = [("deliveries", .array(shown.map { $0.record.body(withHistory: false) }))]
        if page.count > limit, let last = shown.last { members.append(("nextCursor", .string("\(last.position)|\(last.record.id)"))) }
        return .object(members)
    }
}
