/// A recipient's preference not to be sent something: a channel, for one message category or for all of them
/// (`*`). Kept in the recipient's directory entry (`UpsertRecipient`'s `optOuts`) and honoured when a delivery is
/// claimed, so it also stops work already queued: the delivery is recorded `skipped` (`opted-out`).
///
/// What can never be opted out of: a critical category (one on the high lane: one-time codes, security and fraud
/// alerts, payment confirmations) and FlowMart's transactional notifications (payment receipts). In-app is the
/// user's inbox, read when they choose: it has nothing to opt out of.
public struct OptOut: Sendable, Hashable {
    /// The category of an opt-out from every category that may be opted out of.
    public static let everyCategory = "*"
    /// At most this many per recipient.
    public static let maxCount = 100

    public var channel: NotificationChannel
    public var category: String

    public init(channel: NotificationChannel, category: String = everyCategory) {
        self.channel = channel
        self.category = category
    }

    /// `{channel, category?}`: `category` left out is `*`.
    init(_ fields: JSONFields) throws(Rejection) {
        channel = try fields.choice("channel", NotificationChannel.self)
        guard channel != .inApp else {
            throw Rejection(.schema, "field '\(fields.path)channel' cannot be 'in-app': the inbox has nothing to opt out of")
        }
        category = try fields.optionalString("category", maxLength: 64) ?? Self.everyCategory
    }

    public var body: JSONValue { .object([("channel", .string(channel.rawValue)), ("category", .string(category))]) }

    /// Whether `job`, a send of `category` or (nil) one of FlowMart's own events, is suppressed by `optOuts`. Never a
    /// critical one: on the high lane, or one of FlowMart's transactional notifications (a send's `transactional`
    /// only says it carries no unsubscribe link, so it does not exempt a send). Asked by the delivery's claim
    /// (`ClaimPlanner`, in the claim's transaction), with the user's opt-outs as stored at that moment.
    public static func suppresses(_ optOuts: [OptOut], job: DeliveryJob, category: String?) -> Bool {
        guard job.lane != .high, category != nil || !job.transactional else { return false }
        return optOuts.contains { $0.channel == job.channel && ($0.category == everyCategory || $0.category == category) }
    }

    /// Refuses opt-outs of categories the service does not know and of critical ones (400 naming the entry).
    public static func check(_ optOuts: [OptOut], against categories: MessageCategories) throws(CommandFailure) {
        for (index, optOut) in optOuts.enumerated() where optOut.category != everyCategory {
            guard let lane = categories.lane(optOut.category) else {
                throw CommandFailure.badRequest("field 'optOuts[\(index)].category' is not a message category this service knows")
            }
            guard lane != .high else {
                throw CommandFailure.badRequest("field 'optOuts[\(index)].category' is critical and cannot be opted out of")
            }
        }
    }
}

extension OptOut {
    /// The opt-outs of a directory entry's stored `opt_outs` JSON (`[{channel, category}]`); an entry that is not
    /// one is left out.
    public static func list(json: String) -> [OptOut] {
        guard let entries = JSONParser.parse(Array(json.utf8)) as? [Any] else { return [] }
        return entries.compactMap { entry in
            guard let entry = entry as? [String: Any], let channel = (entry["channel"] as? String).flatMap(NotificationChannel.init),
                let category = entry["category"] as? String
            else { return nil }
            return OptOut(channel: channel, category: category)
        }
    }
}
