import Foundation

/// What a claim found for one job (`DeliveryStore.claim`).
public enum DeliveryClaim: Sendable, Equatable {
    /// Send it to this address; `attempt` counts from 1.
    case send(ClaimedDelivery)
    /// The recipient has no address for the channel (`no-address`), opted out of it (`opted-out`, `OptOut`), or it is
    /// a digest whose items were all cancelled (`empty-digest`): recorded `skipped` with that reason in the claim.
    case skipped
    /// The recipient is in their quiet hours (`QuietHours`): the delivery is `scheduled` again, its job held until
    /// the window ends.
    case held
    /// Already sent, dead, skipped or unknown, or being sent by a live daemon (a duplicate copy, a redelivery
    /// after a lost connection): nothing to do now. The job of one being sent is kept for the sweeper, in case
    /// that claim was abandoned.
    case settled
}

/// What a claim read for one delivery it took to `sending`, in its transaction: the facts its plan decides from.
public struct ClaimFacts: Sendable, Equatable {
    /// Lower-case.
    public var deliveryID: String
    /// Attempts made before this one.
    public var attempts: Int
    /// The recipient's stored contact for the delivery's channel: the email address, the phone number, the push tokens
    /// (JSON, `[{platform, token}]`), the webhook endpoint as stored (JSON); nil when there is none or no recipient.
    public var contact: String?
    /// The recipient's opt-outs as stored (JSON); nil for none.
    public var optOuts: String?
    /// The category of the send the delivery belongs to, read only for a recipient with opt-outs.
    public var category: String?
    /// The recipient's quiet hours as stored (JSON), and their time zone.
    public var quietHours: String?
    public var timezone: String?

    public init(
        deliveryID: String, attempts: Int, contact: String?, optOuts: String? = nil, category: String? = nil,
        quietHours: String? = nil, timezone: String? = nil
    ) {
        self.deliveryID = deliveryID
        self.attempts = attempts
        self.contact = contact
        self.optOuts = optOuts
        self.category = category
        self.quietHours = quietHours
        self.timezone = timezone
    }
}

/// A digest a claim closes: its items are settled with it, `digested`, or `skipped` with the digest's reason.
public struct DigestClosing: Sendable, Equatable {
    /// The digest's id (its notification's), lower-case.
    public var digestID: String
    public var channel: NotificationChannel
    /// Why the digest's delivery is skipped, if it is.
    public var skip: String?

    public init(digestID: String, channel: NotificationChannel, skip: String? = nil) {
        self.digestID = digestID
        self.channel = channel
        self.skip = skip
    }
}

/// Decides a claim from what it read (`ClaimFacts`), as a pure function: opt-outs, quiet hours, the fallback rule
/// and digests. The store claims, reads, asks the planner, closes the digests the plan names, has the plan compose
/// them, and writes the plan, all in one transaction (`DeliveryStore.claim`).
public struct ClaimPlanner: Sendable {
    /// Where held, kept and fallback jobs go when they are published again.
    public let workExchange: String
    /// Mints the ids of fallback deliveries.
    public let newID: @Sendable () -> String

    public init(workExchange: String, newID: @escaping @Sendable () -> String) {
        self.workExchange = workExchange
        self.newID = newID
    }

    /// The plan for `jobs`, of which the deliveries `found` were claimed, at `now`.
    public func plan(_ jobs: [DeliveryJob], found: [ClaimFacts], now: Date) -> ClaimPlan {
        let byID = Dictionary(jobs.map { ($0.deliveryID.lowercased(), $0) }) { first, _ in first }
        var plan = ClaimPlan(jobs: jobs, exchange: workExchange)
        for facts in found {
            plan.attempts[facts.deliveryID] = facts.attempts
            guard let job = byID[facts.deliveryID] else { continue }
            plan.decisions[facts.deliveryID] = decide(job, facts, now: now)
        }
        // A job for a delivery another live claim holds is acked, but kept: if that claim was abandoned, the sweeper
        // publishes it again.
        var seen = Set<String>()
        plan.kept = jobs.filter { job in
            let id = job.deliveryID.lowercased()
            return plan.attempts[id] == nil && UUID(uuidString: id) != nil && seen.insert(id).inserted
        }
        // A channel opted out of does not pass to the rule's fallback: the user said no, not "elsewhere".
        plan.fallbacks = found.compactMap { facts in
            guard plan.decisions[facts.deliveryID] == .skip(reason: "no-address") else { return nil }
            return byID[facts.deliveryID]?.fallbackJob(id: newID())
        }
        plan.closing = found.compactMap { facts in
            guard let job = byID[facts.deliveryID], job.isDigest, let decision = plan.decisions[facts.deliveryID] else { return nil }
            switch decision {
            case .hold: return nil
            case .send: return DigestClosing(digestID: job.notificationID.lowercased(), channel: job.channel, skip: nil)
            case .skip(let reason): return DigestClosing(digestID: job.notificationID.lowercased(), channel: job.channel, skip: reason)
            }
        }
        return plan
    }

    /// One claimed delivery: skipped without an address or when the recipient opted out of it, held through their
    /// quiet hours, else sent.
    private func decide(_ job: DeliveryJob, _ facts: ClaimFacts, now: Date) -> ClaimPlan.Decision {
        guard let address = Self.address(facts.contact, on: job.channel) else { return .skip(reason: "no-address") }
        if let optOuts = facts.optOuts, OptOut.suppresses(OptOut.list(json: optOuts), job: job, category: facts.category) {
            return .skip(reason: "opted-out")
        }
        if let window = facts.quietHours.flatMap(QuietHours.parse(stored:)),
            let due = window.deferral(of: job, at: now, timezone: facts.timezone)
        {
            return .hold(until: due)
        }
        return .send(address: address)
    }

    /// The address a stored contact gives on `channel`: none for an empty list of push tokens, or a webhook endpoint
    /// the service disabled (it answered 410).
    public static func address(_ contact: String?, on channel: NotificationChannel) -> String? {
        guard let contact else { return nil }
        switch channel {
        case .push: return contact == "[]" ? nil : contact
        case .webhook: return WebhookEndpoint.isDisabled(stored: contact) ? nil : contact
        default: return contact
        }
    }
}

/// What a claim writes, decided by `ClaimPlanner` from what it read; a digest's content is composed once the store has
/// closed it and read its items (`compose`).
public struct ClaimPlan: Sendable, Equatable {
    public enum Decision: Sendable, Equatable {
        case send(address: String)
        case skip(reason: String)
        case hold(until: Date)
    }

    /// The jobs, as the claim was given them.
    public let jobs: [DeliveryJob]
    /// Where held, kept and fallback jobs go.
    public let exchange: String
    /// Attempts made before, of every delivery the claim took, by lower-case id.
    public internal(set) var attempts: [String: Int] = [:]
    /// What becomes of each delivery the claim took, by lower-case id.
    public internal(set) var decisions: [String: Decision] = [:]
    /// Jobs of deliveries another live claim holds: kept for the sweeper.
    public internal(set) var kept: [DeliveryJob] = []
    /// Jobs on the rules' fallback channels of deliveries without an address, queued with the claim.
    public internal(set) var fallbacks: [DeliveryJob] = []
    /// Digests leaving now (not held), to close.
    public internal(set) var closing: [DigestClosing] = []
    /// What each digest being sent says, by delivery id (`compose`).
    public internal(set) var contents: [String: MessageContent] = [:]

    init(jobs: [DeliveryJob], exchange: String) {
        self.jobs = jobs
        self.exchange = exchange
    }

    /// The digests closed, with the items each one being sent holds (by digest id, oldest first): each says what its
    /// items say; one whose items were all cancelled is skipped (`empty-digest`).
    public mutating func compose(_ items: [String: DigestListing]) {
        let sending = Set(closing.filter { $0.skip == nil }.map(\.digestID))
        for job in jobs where job.isDigest && sending.contains(job.notificationID.lowercased()) {
            let id = job.deliveryID.lowercased()
            guard case .send = decisions[id] else { continue }
            if let listing = items[job.notificationID.lowercased()], !listing.entries.isEmpty {
                contents[id] = MessageContent.digest(of: listing.entries, total: listing.total, on: job.channel)
            } else {
                decisions[id] = .skip(reason: "empty-digest")
            }
        }
    }

    /// What each composed digest says, by digest id, for the digest's row.
    public var digestContents: [String: MessageContent] {
        var said: [String: MessageContent] = [:]
        for job in jobs where job.isDigest {
            if let content = contents[job.deliveryID.lowercased()] { said[job.notificationID.lowercased()] = content }
        }
        return said
    }

    /// The deliveries quiet hours hold: `scheduled` again, their jobs due when the window ends.
    public var held: [ScheduledMessage] {
        decided { job, _, decision in
            guard case .hold(let due) = decision else { return nil }
            return ScheduledMessage(due: due, message: OutboxMessage(job, exchange: exchange))
        }
    }

    /// The deliveries skipped, by lower-case id.
    public var skipped: [String] {
        decided { _, id, decision in if case .skip = decision { id } else { nil } }
    }

    /// A history entry for each delivery the claim took.
    public var history: [(deliveryID: String, status: DeliveryStatus, attempt: Int, detail: String?)] {
        decided { _, id, decision in
            let attempts = attempts[id] ?? 0
            return switch decision {
            case .hold(let due): (id, .scheduled, attempts, "quiet-hours until \(RFC3339.string(from: due))")
            case .send: (id, .sending, attempts + 1, nil)
            case .skip(let reason): (id, .skipped, attempts, reason)
            }
        }
    }

    /// What the claim found for each job, in order.
    public var claims: [DeliveryClaim] {
        jobs.map { job in
            let id = job.deliveryID.lowercased()
            guard let decision = decisions[id], let attempts = attempts[id] else { return .settled }
            switch decision {
            case .hold: return .held
            case .skip: return .skipped
            case .send(let address):
                var job = job
                if let content = contents[id] { job.content = content }
                return .send(ClaimedDelivery(job: job, address: address, attempt: attempts + 1))
            }
        }
    }

    /// `transform` of each decision with its job and lower-case id, in the order of the jobs (each delivery once).
    private func decided<Value>(_ transform: (DeliveryJob, String, Decision) -> Value?) -> [Value] {
        var seen = Set<String>()
        return jobs.compactMap { job in
            let id = job.deliveryID.lowercased()
            guard let decision = decisions[id], seen.insert(id).inserted else { return nil }
            return transform(job, id, decision)
        }
    }
}
