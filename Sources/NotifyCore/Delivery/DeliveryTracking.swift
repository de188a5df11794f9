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
    public var updatedAt: String
    public var history: [Entry]

    public init(id: String, channel: String, status: String, attempts: Int, providerMessageID: String?,
                lastErrorCode: String?, lastErrorClass: String?, updatedAt: String, history: [Entry]) {
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

    /// `{deliveryId, channel, status, attempts, providerMessageId, lastError: {code, class} | null, updatedAt,
    /// history: [{status, at, attempt, errorCode?, errorClass?, detail?}]}`.
    public var body: JSONValue {
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        let lastError: JSONValue = lastErrorCode == nil && lastErrorClass == nil
            ? .null : .object([("code", optional(lastErrorCode)), ("class", optional(lastErrorClass))])
        return .object([
            ("deliveryId", .string(id)), ("channel", .string(channel)), ("status", .string(status)),
            ("attempts", .int(attempts)), ("providerMessageId", optional(providerMessageID)), ("lastError", lastError),
            ("updatedAt", .string(updatedAt)),
            ("history", .array(history.map { entry in
                var members: [(String, JSONValue)] = [("status", .string(entry.status)), ("at", .string(entry.at)), ("attempt", .int(entry.attempt))]
                if let code = entry.errorCode { members.append(("errorCode", .string(code))) }
                if let errorClass = entry.errorClass { members.append(("errorClass", .string(errorClass))) }
                if let detail = entry.detail { members.append(("detail", .string(detail))) }
                return .object(members)
            })),
        ])
    }
}

/// `GetDeliveryStatus {notificationId}` (an extension of the contract): every channel of one notification, with
/// its status, attempts, provider id, last error and history; 404 for an unknown notification.
public struct GetDeliveryStatus: RPCRequest, Equatable {
    public static let command = RPCCommand.getDeliveryStatus
    public var notificationID: String

    public init(notificationID: String) { self.notificationID = notificationID }

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do { notificationID = try fields.id("notificationId") } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object([("notificationId", .string(notificationID))]) }

    /// The 200 reply: `{notificationId, deliveries: [...]}`.
    public static func reply(notificationID: String, _ deliveries: [DeliveryRecord]) -> JSONValue {
        .object([("notificationId", .string(notificationID)), ("deliveries", .array(deliveries.map(\.body)))])
    }
}
