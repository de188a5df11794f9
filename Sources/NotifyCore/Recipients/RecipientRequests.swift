import Foundation

/// `UpsertRecipient {userId, email?, phone?, pushTokens?: [{platform, token}], webhook?: {url, secrets}, locale?,
/// timezone?, optOuts?: [{channel, category?}], quietHours?: {start, end}}` (an extension of the contract): creates the user's directory entry
/// or changes it. A field left out keeps its stored value, a field set to `null` clears it, and `pushTokens`,
/// `webhook` and `optOuts` replace the whole value (a webhook registered again is enabled again). Every address is
/// validated here.
public struct UpsertRecipient: CommandRequest, Equatable {
    public static let command = Command.upsertRecipient

    /// What the request says about one field.
    public enum Change<Value: Sendable & Equatable>: Sendable, Equatable {
        case keep
        case clear
        case set(Value)
    }

    public var userID: String
    public var email: Change<String>
    public var phone: Change<String>
    public var pushTokens: Change<[PushToken]>
    public var webhook: Change<WebhookEndpoint>
    public var locale: Change<String>
    public var timezone: Change<String>
    public var optOuts: Change<[OptOut]>
    public var quietHours: Change<QuietHours>

    public init(
        userID: String, email: Change<String> = .keep, phone: Change<String> = .keep,
        pushTokens: Change<[PushToken]> = .keep, webhook: Change<WebhookEndpoint> = .keep, locale: Change<String> = .keep,
        timezone: Change<String> = .keep, optOuts: Change<[OptOut]> = .keep, quietHours: Change<QuietHours> = .keep
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

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        func change(_ key: String, _ validate: (String) throws(Rejection) -> String) throws(Rejection) -> Change<String> {
            if fields.isNull(key) { return .clear }
            guard let value = try fields.optionalString(key, maxLength: 320) else { return .keep }
            return .set(try validate(value))
        }
        /// A list of objects that replaces the stored one, repeats dropped.
        func list<Element: Hashable>(_ key: String, maxCount: Int, _ parse: (JSONFields) throws(Rejection) -> Element)
            throws(Rejection) -> Change<[Element]>
        {
            if fields.isNull(key) { return .clear }
            guard let entries = try fields.optionalObjects(key, maxCount: maxCount) else { return .keep }
            var seen = Set<Element>()
            return .set(try entries.map { (entry) throws(Rejection) in try parse(entry) }.filter { seen.insert($0).inserted })
        }
        do {
            userID = try fields.id("userId")
            email = try change("email") { (text) throws(Rejection) in try ContactAddress.email(text) }
            phone = try change("phone") { (text) throws(Rejection) in try ContactAddress.phone(text) }
            locale = try change("locale") { (text) throws(Rejection) in try ContactAddress.locale(text) }
            timezone = try change("timezone") { (text) throws(Rejection) in
                guard TimeZone(identifier: text) != nil, text.count <= 64 else {
                    throw Rejection(.schema, "field 'timezone' must be an IANA time zone such as 'Europe/Berlin'")
                }
                return text
            }
            pushTokens = try list("pushTokens", maxCount: Recipient.maxPushTokens) { (entry) throws(Rejection) in try PushToken(entry) }
            if fields.isNull("webhook") {
                webhook = .clear
            } else if let endpoint = try fields.optionalObject("webhook") {
                webhook = .set(try WebhookEndpoint(endpoint))
            } else {
                webhook = .keep
            }
            optOuts = try list("optOuts", maxCount: OptOut.maxCount) { (entry) throws(Rejection) in try OptOut(entry) }
            if fields.isNull("quietHours") {
                quietHours = .clear
            } else if let window = try fields.optionalObject("quietHours") {
                quietHours = .set(try QuietHours(window))
            } else {
                quietHours = .keep
            }
        } catch {
            throw error.asBadRequest
        }
    }

    public var body: JSONValue {
        func member<Value>(_ key: String, _ change: Change<Value>, _ encode: (Value) -> JSONValue) -> [(String, JSONValue)] {
            switch change {
            case .keep: []
            case .clear: [(key, .null)]
            case .set(let value): [(key, encode(value))]
            }
        }
        return .object(
            [("userId", .string(userID))] + member("email", email, JSONValue.string) + member("phone", phone, JSONValue.string)
                + member("pushTokens", pushTokens) { .array($0.map(\.body)) }
                + member("webhook", webhook) { .object([("url", .string($0.url)), ("secrets", .array($0.secrets.map(JSONValue.string)))]) }
                + member("locale", locale, JSONValue.string) + member("timezone", timezone, JSONValue.string)
                + member("optOuts", optOuts) { .array($0.map(\.body)) } + member("quietHours", quietHours) { $0.body })
    }

    /// The entry after this change is applied to `current` (nil: none yet).
    public func applied(to current: Recipient?) -> Recipient {
        func apply<Value>(_ change: Change<Value>, _ value: Value?) -> Value? {
            switch change {
            case .keep: value
            case .clear: nil
            case .set(let new): new
            }
        }
        var recipient = current ?? Recipient(userID: userID)
        recipient.email = apply(email, recipient.email)
        recipient.phone = apply(phone, recipient.phone)
        recipient.pushTokens = apply(pushTokens, recipient.pushTokens) ?? []
        recipient.webhook = apply(webhook, recipient.webhook)
        recipient.locale = apply(locale, recipient.locale)
        recipient.timezone = apply(timezone, recipient.timezone)
        recipient.optOuts = apply(optOuts, recipient.optOuts) ?? []
        recipient.quietHours = apply(quietHours, recipient.quietHours)
        return recipient
    }
}

/// A request naming one user and nothing else: its body is `{userId}`.
public protocol UserRequest: CommandRequest {
    var userID: String { get }
    init(userID: String)
}

extension UserRequest {
    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do { self.init(userID: try fields.id("userId")) } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object([("userId", .string(userID))]) }
}

/// `GetRecipient {userId}`: the user's directory entry; 404 when there is none.
public struct GetRecipient: UserRequest, Equatable {
    public static let command = Command.getRecipient
    public var userID: String

    public init(userID: String) { self.userID = userID }
}

/// `DeleteRecipient {userId}`: erasure. The entry and every address in it are removed; what the service keeps about
/// past sends names the address only by a hash. Idempotent: `{userId, deleted}` says whether there was one.
public struct DeleteRecipient: UserRequest, Equatable {
    public static let command = Command.deleteRecipient
    public var userID: String

    public init(userID: String) { self.userID = userID }
}
