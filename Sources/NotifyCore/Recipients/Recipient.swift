/// Where and how to reach one user: the recipient directory's entry (`UpsertRecipient`). Every address in it was
/// validated on the way in (`ContactAddress`).
public struct Recipient: Sendable, Equatable {
    public var userID: String
    public var email: String?
    public var phone: String?
    public var pushTokens: [PushToken]
    public var webhook: WebhookEndpoint?
    public var locale: String?
    public var timezone: String?
    /// What the user asked not to be sent (`OptOut`).
    public var optOuts: [OptOut]
    /// When not to be interrupted (`QuietHours`), in `timezone`.
    public var quietHours: QuietHours?

    public init(
        userID: String, email: String? = nil, phone: String? = nil, pushTokens: [PushToken] = [],
        webhook: WebhookEndpoint? = nil, locale: String? = nil, timezone: String? = nil, optOuts: [OptOut] = [],
        quietHours: QuietHours? = nil
    ) {
        self.optOuts = optOuts
        self.quietHours = quietHours
        self.userID = userID
        self.email = email
        self.phone = phone
        self.pushTokens = pushTokens
        self.webhook = webhook
        self.locale = locale
        self.timezone = timezone
    }

    /// At most this many push tokens per user (phones, tablets, browsers).
    public static let maxPushTokens = 20

    /// The reply body of `GetRecipient` and `UpsertRecipient`; absent fields are `null`.
    public func body(updatedAt: String) -> JSONValue {
        func optional(_ value: String?) -> JSONValue { value.map(JSONValue.string) ?? .null }
        return .object([
            ("userId", .string(userID)), ("email", optional(email)), ("phone", optional(phone)),
            ("pushTokens", .array(pushTokens.map(\.body))), ("webhook", webhook?.body ?? .null), ("locale", optional(locale)),
            ("timezone", optional(timezone)), ("optOuts", .array(optOuts.map(\.body))), ("quietHours", quietHours?.body ?? .null),
            ("updatedAt", .string(updatedAt)),
        ])
    }
}

/// A device's push token, for the provider of its platform.
public struct PushToken: Sendable, Hashable {
    public enum Platform: String, Sendable, CaseIterable {
        /// Apple Push Notification service.
        case apns
        /// Firebase Cloud Messaging.
        case fcm
    }

    public var platform: Platform
    public var token: String

    public init(platform: Platform, token: String) {
        self.platform = platform
        self.token = token
    }

    /// `{platform, token}`: the token is 1 to 4096 printable ASCII characters (APNs tokens are hex, FCM tokens
    /// are URL-safe base64 with separators).
    init(_ fields: JSONFields) throws(Rejection) {
        platform = try fields.choice("platform", Platform.self)
        guard let token = try fields.optionalString("token", maxLength: 4096), !token.isEmpty,
            token.unicodeScalars.allSatisfy({ (0x21...0x7E).contains($0.value) })
        else { throw Rejection(.schema, "field '\(fields.path)token' must be 1 to 4096 printable ASCII characters") }
        self.token = token
    }

    public var body: JSONValue { .object([("platform", .string(platform.rawValue)), ("token", .string(token))]) }
}

extension PushToken {
    /// The tokens of a directory entry's `push_tokens` JSON (`[{platform, token}]`), as the store keeps it and a
    /// push delivery's claim carries it; an entry that is not a token is left out.
    public static func list(json: String) -> [PushToken] {
        guard let entries = JSONParser.parse(Array(json.utf8)) as? [Any] else { return [] }
        return entries.compactMap { entry in
            guard let entry = entry as? [String: Any], let platform = (entry["platform"] as? String).flatMap(Platform.init),
                let token = entry["token"] as? String
            else { return nil }
            return PushToken(platform: platform, token: token)
        }
    }
}
