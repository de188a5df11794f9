/// What a channel sends: a subject (email, push title), a plain text and, for email, an HTML alternative.
public struct MessageContent: Sendable, Equatable {
    public var subject: String
    public var text: String
    public var html: String?

    public init(subject: String, text: String, html: String?) {
        self.subject = subject
        self.text = text
        self.html = html
    }
}

/// One delivery to make, as it travels through its lane and retry tiers: written to the outbox with its
/// delivery row, so it leaves exactly when the notification commits. It carries the rendered content (rendered
/// once, at ingestion) but not the address: the worker reads that from the recipient directory when it claims
/// the delivery, so an erased or changed address is honoured even for work already queued.
public struct DeliveryJob: Sendable, Equatable {
    public static let type = "DeliveryJob"
    public static let version = "1"

    public var deliveryID: String
    public var notificationID: String
    public var userID: String
    public var channel: NotificationChannel
    public var lane: NotificationPriority
    /// Receipts and one-time codes are transactional; everything else may be unsubscribed from
    /// (`List-Unsubscribe`).
    public var transactional: Bool
    public var content: MessageContent
    /// The channel to try when this delivery ends without reaching the recipient (its rule's fallback, when a
    /// provider delivers on it); nil for none.
    public var fallback: NotificationChannel?
    /// The tenant whose user `userID` is (its directory is searched for the address); nil for FlowMart's.
    public var tenant: Tenant?
    /// Whether a transient failure goes to a retry tier (`RetryPolicy`); false: the first failure is final.
    public var retries: Bool
    /// A send's message category (what its unsubscribe link opts out of); nil for FlowMart's own notifications.
    public var category: String?
    /// A digest's job (`DigestItem.digestJob`): the claim composes its content from the items the digest holds.
    public var isDigest = false

    public init(
        deliveryID: String, notificationID: String, userID: String, channel: NotificationChannel,
        lane: NotificationPriority, transactional: Bool, content: MessageContent, fallback: NotificationChannel? = nil,
        tenant: Tenant? = nil, retries: Bool = true, category: String? = nil
    ) {
        self.retries = retries
        self.category = category
        self.tenant = tenant
        self.deliveryID = deliveryID
        self.notificationID = notificationID
        self.userID = userID
        self.channel = channel
        self.lane = lane
        self.transactional = transactional
        self.content = content
        self.fallback = fallback
    }

    /// The job for this notification on its fallback channel, as delivery `id`; nil when it has none. It has no
    /// fallback of its own.
    public func fallbackJob(id: String) -> DeliveryJob? {
        guard let fallback else { return nil }
        return DeliveryJob(
            deliveryID: id, notificationID: notificationID, userID: userID, channel: fallback, lane: lane,
            transactional: transactional, content: MessageContent(subject: content.subject, text: content.text, html: nil),
            tenant: tenant, retries: retries, category: category)
    }

    /// The recipient across tenants, for per-recipient limits: the user id, in its tenant's namespace.
    public var recipientKey: String { tenant.map { "\($0.namespace.uuidString.lowercased())/\(userID)" } ?? userID }

    /// `{deliveryId, notificationId, userId, channel, lane, transactional, subject, text, html?, fallback?, productId?,
    /// organizationId?, retries?, category?, digest?}` (`retries` only when false and `digest` only when true, so jobs
    /// written before them read the same).
    public var body: JSONValue {
        var members: [(String, JSONValue)] = [
            ("deliveryId", .string(deliveryID)), ("notificationId", .string(notificationID)), ("userId", .string(userID)),
            ("channel", .string(channel.rawValue)), ("lane", .string(lane.rawValue)), ("transactional", .bool(transactional)),
            ("subject", .string(content.subject)), ("text", .string(content.text)),
        ]
        if let html = content.html { members.append(("html", .string(html))) }
        if let fallback { members.append(("fallback", .string(fallback.rawValue))) }
        if let tenant {
            members.append(("productId", .string(tenant.productID.uuidString.lowercased())))
            if let organization = tenant.organizationID {
                members.append(("organizationId", .string(organization.uuidString.lowercased())))
            }
        }
        if !retries { members.append(("retries", .bool(false))) }
        if let category { members.append(("category", .string(category))) }
        if isDigest { members.append(("digest", .bool(true))) }
        return .object(members)
    }

    /// Reads a job from its lane; a malformed one is a `Rejection` (it is parked, never retried).
    public init(body: [UInt8], input: JSONInput = JSONInput()) throws(Rejection) {
        let fields = JSONFields(try input.object(from: body))
        deliveryID = try fields.id("deliveryId")
        notificationID = try fields.id("notificationId")
        userID = try fields.id("userId")
        channel = try fields.choice("channel", NotificationChannel.self)
        lane = try fields.choice("lane", NotificationPriority.self)
        transactional = try fields.bool("transactional")
        func text(_ key: String) throws(Rejection) -> String {
            guard let value = try fields.optionalString(key, maxLength: input.maxBytes) else {
                throw Rejection(.schema, "missing required field '\(key)'")
            }
            return value
        }
        content = MessageContent(
            subject: try text("subject"), text: try text("text"), html: try fields.optionalString("html", maxLength: input.maxBytes))
        fallback = try fields.optionalChoice("fallback", NotificationChannel.self)
        if let product = try fields.optionalUUID("productId") {
            tenant = Tenant(productID: product, organizationID: try fields.optionalUUID("organizationId"))
        } else {
            tenant = nil
        }
        retries = fields.has("retries") ? try fields.bool("retries") : true
        category = try fields.optionalString("category", maxLength: 64)
        isDigest = fields.has("digest") ? try fields.bool("digest") : false
    }
}

extension OutboxMessage {
    /// A delivery job on its lane of the work exchange; its message id is the delivery id, so a job published
    /// twice (a relay crash between confirm and mark) is recognised by the delivery's state.
    public init(_ job: DeliveryJob, exchange: String) {
        messageID = job.deliveryID
        self.exchange = exchange
        routingKey = job.lane.rawValue
        type = DeliveryJob.type
        version = DeliveryJob.version
        correlationID = job.notificationID
        body = String(decoding: job.body.bytes, as: UTF8.self)
        priority =
            switch job.lane {
            case .high: 0
            case .normal: 1
            case .low: 2
            }
    }
}

/// A job the worker claimed, with the address the recipient directory holds for its channel now and the number
/// of this attempt (1 for the first).
public struct ClaimedDelivery: Sendable, Equatable {
    public var job: DeliveryJob
    public var address: String
    public var attempt: Int

    public init(job: DeliveryJob, address: String, attempt: Int) {
        self.job = job
        self.address = address
        self.attempt = attempt
    }
}

/// What a provider made of one delivery.
public enum DeliveryResult: Sendable, Equatable {
    /// Accepted by the provider, with its id for the message (an SMTP server's queue id).
    case sent(providerMessageID: String)
    case failed(DeliveryFailure)
}
