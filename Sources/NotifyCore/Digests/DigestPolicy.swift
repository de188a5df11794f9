/// How a recipient's notifications of one kind are batched into one message (a digest): every item that comes
/// within `windowSeconds` of the first goes out together when the window ends, or at once when `maxItems` are in.
/// A rule (`digest` in the rules file) or a send (`digest {windowSeconds?, maxItems?}`) asks for one; the kind is the
/// rule's `type` or the send's message category. Only email, SMS and push are batched: an in-app notification is
/// its inbox row (the inbox is already a list) and a webhook consumer wants each event.
public struct DigestPolicy: Codable, Sendable, Equatable {
    public static let defaultWindowSeconds = 600
    public static let defaultMaxItems = 20
    /// A second to a day: a digest held longer than the broker's patience is still safe (its job waits in
    /// PostgreSQL, not unacked), but a day is what "digest" means to the people who get one.
    public static let windowSeconds = 1...86_400
    /// A list longer than a hundred is not read, and an SMS or a push cannot show it.
    public static let maxItems = 2...100
    /// The channels a digest batches.
    public static let channels: Set<NotificationChannel> = [.email, .sms, .push]

    public var windowSeconds: Int
    public var maxItems: Int

    public init(windowSeconds: Int = Self.defaultWindowSeconds, maxItems: Int = Self.defaultMaxItems) {
        self.windowSeconds = windowSeconds
        self.maxItems = maxItems
    }

    public init(from decoder: any Decoder) throws {
        enum Keys: String, CodingKey { case windowSeconds, maxItems }
        let container = try decoder.container(keyedBy: Keys.self)
        self.init(
            windowSeconds: try container.decodeIfPresent(Int.self, forKey: .windowSeconds) ?? Self.defaultWindowSeconds,
            maxItems: try container.decodeIfPresent(Int.self, forKey: .maxItems) ?? Self.defaultMaxItems)
        if let problem { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: problem)) }
    }

    /// What is wrong with it, if anything (the field and the allowed range).
    var problem: String? {
        if !Self.windowSeconds.contains(windowSeconds) {
            return "'windowSeconds' must be \(Self.windowSeconds.lowerBound) to \(Self.windowSeconds.upperBound)"
        }
        if !Self.maxItems.contains(maxItems) { return "'maxItems' must be \(Self.maxItems.lowerBound) to \(Self.maxItems.upperBound)" }
        return nil
    }

    /// `digest` of a send request: `{windowSeconds?, maxItems?}` (or the seed's `window_seconds`, `max_items`).
    init(_ fields: JSONFields) throws(Rejection) {
        self.init(
            windowSeconds: try fields.integer(
                try fields.spelling("windowSeconds", "window_seconds"), default: Self.defaultWindowSeconds,
                in: Self.windowSeconds),
            maxItems: try fields.integer(try fields.spelling("maxItems", "max_items"), default: Self.defaultMaxItems, in: Self.maxItems))
    }

    var json: JSONValue { .object([("windowSeconds", .int(windowSeconds)), ("maxItems", .int(maxItems))]) }
}

/// The digest an item joins: one recipient (in its tenant's directory), one channel, one kind.
public struct DigestKey: Sendable, Hashable, Comparable {
    public var namespace: String
    public var userID: String
    public var channel: NotificationChannel
    public var kind: String

    public init(namespace: String, userID: String, channel: NotificationChannel, kind: String) {
        self.namespace = namespace
        self.userID = userID
        self.channel = channel
        self.kind = kind
    }

    /// One string per key, for the per-key lock (a hash of it) and the table's columns.
    public var lockName: String { "\(namespace)\u{1F}\(userID)\u{1F}\(channel.rawValue)\u{1F}\(kind)" }

    public static func < (a: DigestKey, b: DigestKey) -> Bool { a.lockName < b.lockName }
}

/// One delivery that waits in a digest instead of its lane: `batched` until its digest leaves, then `digested`.
/// It carries the ids a digest it opens would get, minted with the plan.
public struct DigestItem: Sendable, Equatable {
    /// The job the delivery would have had on its own: who, which channel, lane and tenant.
    public var job: DeliveryJob
    public var kind: String
    public var policy: DigestPolicy
    /// The digest's id (its message's notification id) and its delivery's, if this item opens one.
    public var newDigestID: String
    public var newDeliveryID: String
    /// Where the digest's job is published when it is due.
    public var exchange: String

    public init(job: DeliveryJob, kind: String, policy: DigestPolicy, newDigestID: String, newDeliveryID: String, exchange: String) {
        self.job = job
        self.kind = kind
        self.policy = policy
        self.newDigestID = newDigestID
        self.newDeliveryID = newDeliveryID
        self.exchange = exchange
    }

    public var key: DigestKey {
        DigestKey(
            namespace: (job.tenant?.namespace ?? Tenant.flowMart).uuidString.lowercased(), userID: job.userID, channel: job.channel,
            kind: kind)
    }

    /// The job of the digest this item opens: the same recipient, channel, lane and tenant, marked as a digest (the
    /// claim composes its content from the items it holds then).
    public var digestJob: DeliveryJob {
        var digest = job
        digest.deliveryID = newDeliveryID
        digest.notificationID = newDigestID
        digest.content = MessageContent(subject: kind, text: "", html: nil)
        digest.fallback = nil
        digest.isDigest = true
        return digest
    }
}
