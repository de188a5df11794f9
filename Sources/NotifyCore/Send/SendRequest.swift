import Foundation

/// What a send asks for, whichever command carried it (`SendNotification` for one recipient, `SendBatch` for up to
/// 1,000): the channels, the `messageCategory` that picks the lane, the recipients, the content and an optional
/// idempotency key. The seed's snake_case spellings (`message_category`, `idempotency_key`, ...) are accepted too.
/// A recipient is a user of the caller's own directory (`userId`), or direct addresses, which are written into that
/// directory (under `userId`, or an id derived from the addresses) so the delivery finds them like any other.
public struct SendRequest: Sendable, Equatable {
    public static let maxTitleLength = 200
    public static let maxIdempotencyKeyLength = 200

    public struct Recipient: Sendable, Equatable {
        public var userID: String
        public var email: String?
        public var phone: String?
        /// A device to push to (`pushToken {platform, token}`), added to the entry's tokens.
        public var pushToken: PushToken?
        /// The language to render a template in for this recipient (before its directory entry's and the request's).
        public var locale: String?

        public init(userID: String, email: String? = nil, phone: String? = nil, pushToken: PushToken? = nil, locale: String? = nil) {
            self.userID = userID
            self.email = email
            self.phone = phone
            self.pushToken = pushToken
            self.locale = locale
        }

        /// Whether the request gave addresses to write into the directory.
        public var hasAddresses: Bool { email != nil || phone != nil || pushToken != nil }

        /// `recipient` (or `recipients[i]`) as read: `userId`, or addresses alone, which get a stable id of their own
        /// (the same addresses are the same recipient, for per-recipient limits).
        init(_ fields: JSONFields) throws(Rejection) {
            email = try fields.optionalString("email", maxLength: 320).map { (text) throws(Rejection) in try ContactAddress.email(text) }
            phone = try fields.optionalString("phone", maxLength: 64).map { (text) throws(Rejection) in try ContactAddress.phone(text) }
            locale = try fields.optionalString("locale", maxLength: 35).map { (text) throws(Rejection) in
                try ContactAddress.locale(text, field: "\(fields.path)locale")
            }
            pushToken = try fields.optionalObject("pushToken").map { (fields) throws(Rejection) in try PushToken(fields) }
            if let userID = try fields.optionalID("userId") {
                self.userID = userID
            } else {
                guard email != nil || phone != nil || pushToken != nil else {
                    throw Rejection(.schema, "field '\(fields.path.dropLast())' must have 'userId', 'email', 'phone' or 'pushToken'")
                }
                // A device is part of who it is only when given (ids derived before tokens could be stay the same).
                let device = pushToken.map { "\n\($0.platform.rawValue):\($0.token)" } ?? ""
                userID = "address:" + APIKey.hash("\(email ?? "")\n\(phone ?? "")\(device)").prefix(32)
            }
        }

        var body: JSONValue {
            var members: [(String, JSONValue)] = [("userId", .string(userID))]
            if let email { members.append(("email", .string(email))) }
            if let phone { members.append(("phone", .string(phone))) }
            if let pushToken { members.append(("pushToken", pushToken.body)) }
            if let locale { members.append(("locale", .string(locale))) }
            return .object(members)
        }
    }

    public struct Content: Sendable, Equatable {
        public var title: String
        public var body: String
        /// The email's subject (the title when absent).
        public var subject: String?
        /// The email's HTML part, when it has one.
        public var html: String?

        public init(title: String, body: String, subject: String? = nil, html: String? = nil) {
            self.title = title
            self.body = body
            self.subject = subject
            self.html = html
        }

        /// The same texts on every channel (the email's subject the title unless given).
        public var rendered: RenderedContent {
            RenderedContent(title: title, body: body, email: MessageContent(subject: subject ?? title, text: body, html: html))
        }

        var json: JSONValue {
            var members: [(String, JSONValue)] = [("title", .string(title)), ("body", .string(body))]
            if let subject { members.append(("subject", .string(subject))) }
            if let html { members.append(("html", .string(html))) }
            return .object(members)
        }
    }

    /// A product template to render for each recipient (`template {name, data?}`): its published version when the
    /// send is accepted, in the recipient's language.
    public struct TemplateUse: Sendable, Equatable {
        public var name: String
        public var data: TemplateData

        public init(name: String, data: TemplateData = TemplateData()) {
            self.name = name
            self.data = data
        }

        var json: JSONValue { .object([("name", .string(name)), ("data", data.value)]) }
    }

    /// What the notification says: the caller's own texts, or a template of its product.
    public enum Message: Sendable, Equatable {
        case content(Content)
        case template(TemplateUse)
    }

    public var channels: [NotificationChannel]
    public var category: String
    public var recipients: [Recipient]
    public var message: Message
    /// `locale`: the language for recipients who name none (theirs, or their directory entry's, comes first).
    public var locale: String?
    public var idempotencyKey: String?
    /// `retryEnabled` (true unless the caller says false): whether a transient failure is tried again.
    public var retries: Bool
    /// `scheduledAt`: when the deliveries should leave (see `schedule(now:)`); nil for at once.
    public var scheduledAt: Date?
    /// `digest {windowSeconds?, maxItems?}`: batch each recipient's email, SMS and push of this category with their
    /// others (`DigestPolicy`); nil to send at once.
    public var digest: DigestPolicy?

    public init(
        channels: [NotificationChannel], category: String, recipients: [Recipient], message: Message, locale: String? = nil,
        idempotencyKey: String? = nil, retries: Bool = true, scheduledAt: Date? = nil, digest: DigestPolicy? = nil
    ) {
        self.digest = digest
        self.locale = locale
        self.scheduledAt = scheduledAt
        self.retries = retries
        self.channels = channels
        self.category = category
        self.recipients = recipients
        self.message = message
        self.idempotencyKey = idempotencyKey
    }

    /// Everything but the recipients, from `fields`; `recipients` reads those (the two commands differ only there).
    init(_ fields: JSONFields, recipients: (JSONFields) throws(Rejection) -> [Recipient]) throws(Rejection) {
        channels = try Self.channels(fields)
        guard let category = try fields.optionalString(try fields.spelling("messageCategory", "message_category"), maxLength: 64),
            !category.isEmpty
        else { throw Rejection(.schema, "missing required field 'messageCategory'") }
        self.category = category
        self.recipients = try recipients(fields)
        if let template = try fields.optionalObject("template") {
            guard !fields.has("content") else { throw Rejection(.schema, "give field 'content' or 'template', not both") }
            guard let name = try template.optionalString("name", maxLength: 64) else {
                throw Rejection(.schema, "missing required field 'template.name'")
            }
            try ProductTemplate.checkName(name, field: "template.name")
            message = .template(TemplateUse(name: name, data: try TemplateData(template, key: "data")))
        } else {
            guard let content = try fields.optionalObject("content") else {
                throw Rejection(.schema, "missing required field 'content' (or 'template')")
            }
            message = .content(
                Content(
                    title: try content.requiredText("title", maxLength: Self.maxTitleLength),
                    body: try content.requiredText("body", maxLength: Command.defaultMaxRequestBytes),
                    subject: try content.optionalString("subject", maxLength: Self.maxTitleLength),
                    html: try content.optionalString("html", maxLength: Command.defaultMaxRequestBytes)))
        }
        locale = try fields.optionalString("locale", maxLength: 35).map { (text) throws(Rejection) in try ContactAddress.locale(text) }
        idempotencyKey = try fields.optionalString(
            try fields.spelling("idempotencyKey", "idempotency_key"), maxLength: Self.maxIdempotencyKeyLength)
        if idempotencyKey?.isEmpty == true { throw Rejection(.schema, "field 'idempotencyKey' must not be empty") }
        let retry = try fields.spelling("retryEnabled", "retry_enabled")
        retries = fields.has(retry) ? try fields.bool(retry) : true
        let scheduled = try fields.spelling("scheduledAt", "scheduled_at")
        if let text = try fields.optionalString(scheduled, maxLength: 40) {
            guard let date = RFC3339.date(from: text) else {
                throw Rejection(.schema, "field '\(scheduled)' must be an RFC 3339 time with its offset (2027-01-01T09:00:00Z)")
            }
            scheduledAt = date
        } else {
            scheduledAt = nil
        }
        if let digest = try fields.optionalObject("digest") {
            guard scheduledAt == nil else { throw Rejection(.schema, "give field 'digest' or '\(scheduled)', not both") }
            guard channels.contains(where: DigestPolicy.channels.contains) else {
                throw Rejection(.schema, "field 'digest' batches email, sms and push: name one of them in 'channels'")
            }
            self.digest = try DigestPolicy(digest)
        } else {
            digest = nil
        }
    }

    /// The request's members with its recipients under `recipients` (one object for `SendNotification`'s
    /// `recipient`, an array for `SendBatch`'s `recipients`).
    func body(recipients: (String, JSONValue)) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("channels", .array(channels.map { .string($0.rawValue) })), ("messageCategory", .string(category)), recipients,
        ]
        switch message {
        case .content(let content): members.append(("content", content.json))
        case .template(let template): members.append(("template", template.json))
        }
        if let locale { members.append(("locale", .string(locale))) }
        if let idempotencyKey { members.append(("idempotencyKey", .string(idempotencyKey))) }
        if !retries { members.append(("retryEnabled", .bool(false))) }
        if let scheduledAt { members.append(("scheduledAt", .string(RFC3339.string(from: scheduledAt)))) }
        if let digest { members.append(("digest", digest.json)) }
        return .object(members)
    }

    /// What an idempotency key is compared on: the SHA-256 of the request as this service reads it (so spelling,
    /// key order and whitespace do not matter; what it asks for does).
    public var hash: String {
        APIKey.hash(String(decoding: body(recipients: ("recipients", .array(recipients.map(\.body)))).bytes, as: UTF8.self))
    }

    /// The notification this send becomes for `recipient`, saying `content` (the request's own, or its template
    /// rendered for the recipient), on `lane`, for `tenant`. Marketing (the low lane) may be unsubscribed from;
    /// everything else is transactional. A templated one names its template, version and locale in its metadata.
    public func notification(
        for recipient: Recipient, content: RenderedContent, template: CompiledTemplate? = nil, id: String,
        requestID: String, tenant: Tenant, lane: NotificationPriority
    ) -> NewNotification {
        var metadata: [String: String] = [:]
        if let template {
            metadata["template"] = template.name
            metadata["templateVersion"] = String(template.version)
            if let locale = content.locale { metadata["locale"] = locale }
        }
        return NewNotification(
            id: id, userID: recipient.userID, type: category, priority: lane, channels: channels, title: content.title,
            message: content.body, metadata: metadata, sourceEventKey: "send:\(requestID)", transactional: lane != .low,
            email: content.email, channelTexts: content.channelTexts, tenant: tenant, requestID: requestID, category: category,
            retries: retries,
            digest: digest)
    }

    private static func channels(_ fields: JSONFields) throws(Rejection) -> [NotificationChannel] {
        let names: [String]
        if let one = try fields.optionalString("channel", maxLength: 16) {
            guard !fields.has("channels") else { throw Rejection(.schema, "give field 'channel' or 'channels', not both") }
            names = [one]
        } else {
            guard let many = try fields.optionalStrings("channels", maxCount: NotificationChannel.allCases.count), !many.isEmpty else {
                throw Rejection(.schema, "missing required field 'channel' (or 'channels')")
            }
            names = many
        }
        var channels: [NotificationChannel] = []
        for name in names {
            guard let channel = NotificationChannel(rawValue: name) else {
                throw Rejection(.schema, "field 'channels' may name email, sms, push, webhook and in-app")
            }
            if !channels.contains(channel) { channels.append(channel) }
        }
        return channels
    }
}

extension JSONFields {
    /// Which of two spellings of a field the request uses (the camelCase one when neither); both is an error.
    func spelling(_ camel: String, _ snake: String) throws(Rejection) -> String {
        if has(camel), has(snake) { throw Rejection(.schema, "give field '\(path)\(camel)' or '\(path)\(snake)', not both") }
        return has(snake) ? snake : camel
    }

    /// A string that must be present and not blank.
    func requiredText(_ key: String, maxLength: Int) throws(Rejection) -> String {
        guard let text = try optionalString(key, maxLength: maxLength), !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw Rejection(.schema, "missing required field '\(path)\(key)' (not blank)")
        }
        return text
    }
}
