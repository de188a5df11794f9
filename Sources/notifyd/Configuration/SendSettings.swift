import Configuration
import NotifyCore

/// `send.*`: the send API.
struct SendSettings: Sendable, Equatable {
    /// `messageCategory` → lane; each list replaces its lane's default.
    var categories = MessageCategories()
    /// How long an idempotency key is remembered: the same key within it gets 208 (same request) or 409.
    var idempotencyHours = 24
    /// Each tenant's quota (an organisation's key counts against the organisation's, a product's against the
    /// product's): notifications a second on average; 0 for none. Over it, a send is 429 with `Retry-After`.
    var quotaPerSecond = 500
    /// How many notifications a tenant may send at once after a quiet spell; at least a full `SendBatch`.
    var quotaBurst = 2_000

    init(config: ConfigReader) throws(ConfigurationError) {
        let lists = NotificationPriority.allCases.map { lane in
            let defaults =
                switch lane {
                case .high: MessageCategories.defaultHigh
                case .normal: MessageCategories.defaultNormal
                case .low: MessageCategories.defaultLow
                }
            return (
                lane, config.stringArray(forKey: ConfigKey("send.categories.\(lane.rawValue)"), default: defaults).filter { !$0.isEmpty }
            )
        }
        let byLane = Dictionary(uniqueKeysWithValues: lists)
        categories = MessageCategories(high: byLane[.high] ?? [], normal: byLane[.normal] ?? [], low: byLane[.low] ?? [])
        if let duplicate = categories.duplicates.sorted().first {
            throw ConfigurationError(key: "send.categories", reason: "names '\(duplicate)' on more than one lane")
        }
        idempotencyHours = try config.int("send.idempotencyHours", idempotencyHours, 1...720)
        quotaPerSecond = try config.int("send.quotaPerSecond", quotaPerSecond, 0...1_000_000)
        quotaBurst = try config.int("send.quotaBurst", quotaBurst, SendBatch.maxRecipients...1_000_000)
    }

    /// The tenant quota's schedule; nil when quotas are off.
    var quota: RateLimit? { quotaPerSecond > 0 ? RateLimit(perSecond: Double(quotaPerSecond), burst: quotaBurst) : nil }
}
