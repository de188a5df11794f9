/// A claimed job in a delivery round, by its place in the worker's jobs of the channel: the worker acks or hands
/// back the broker's message at that place.
public struct RoundJob: Sendable, Equatable {
    public var index: Int
    public var claimed: ClaimedDelivery

    public init(index: Int, claimed: ClaimedDelivery) {
        self.index = index
        self.claimed = claimed
    }
}

/// What one job of a delivery round came to: the transition to record, what the worker publishes before it
/// records (a retry tier's copy, or a parked one), and the provider it went through or was meant for (its metrics).
public struct DeliveryOutcome: Sendable, Equatable {
    public var index: Int
    public var provider: String
    public var transition: DeliveryTransition
    public var followUp: FollowUp?

    public enum FollowUp: Sendable, Equatable {
        /// A copy of the job goes to the retry tier that waits `delaySeconds`, with the transition's attempt and
        /// error code; a copy the broker does not take leaves the transition unrecorded and the job handed back.
        case retry(delaySeconds: Int)
        /// A copy is parked with the failure as its reason, and the rule's fallback (if any) is queued with the record.
        case park(fallback: DeliveryJob?)
    }

    public init(index: Int, provider: String, transition: DeliveryTransition, followUp: FollowUp? = nil) {
        self.index = index
        self.provider = provider
        self.transition = transition
        self.followUp = followUp
    }

    /// Accepted by the provider, with its id for the message.
    static func sent(_ job: RoundJob, provider: String, messageID: String) -> DeliveryOutcome {
        DeliveryOutcome(
            index: job.index, provider: provider,
            transition: DeliveryTransition(
                deliveryID: job.claimed.job.deliveryID, status: .sent, attempt: job.claimed.attempt, providerMessageID: messageID,
                address: job.claimed.address))
    }

    /// The attempt failed and is spent: the job waits `delay` seconds in its tier.
    static func retried(_ job: RoundJob, provider: String, failure: DeliveryFailure, delay: Int) -> DeliveryOutcome {
        DeliveryOutcome(
            index: job.index, provider: provider,
            transition: DeliveryTransition(
                deliveryID: job.claimed.job.deliveryID, status: .failed, attempt: job.claimed.attempt, failure: failure),
            followUp: .retry(delaySeconds: delay))
    }

    /// The job ends here: parked with its reason, for redrive, its rule's fallback (as delivery `fallbackID`) queued.
    static func dead(_ job: RoundJob, provider: String, failure: DeliveryFailure, fallbackID: String) -> DeliveryOutcome {
        DeliveryOutcome(
            index: job.index, provider: provider,
            transition: DeliveryTransition(
                deliveryID: job.claimed.job.deliveryID, status: .dead, attempt: job.claimed.attempt, failure: failure),
            followUp: .park(fallback: job.claimed.job.fallbackJob(id: fallbackID)))
    }

    /// Not tried (its slot too far off, or its provider down for longer than a job is held): back to the tier of
    /// `tier` seconds as it is, its attempt not spent.
    static func deferred(_ job: RoundJob, provider: String, failure: DeliveryFailure, tier: Int) -> DeliveryOutcome {
        DeliveryOutcome(
            index: job.index, provider: provider,
            transition: DeliveryTransition(
                deliveryID: job.claimed.job.deliveryID, status: .failed, attempt: job.claimed.attempt - 1, failure: failure),
            followUp: .retry(delaySeconds: tier))
    }

    /// Its send request was cancelled (`CancelRequest`) while it waited for its slot: never sent, its attempt unspent.
    static func cancelled(_ job: RoundJob, provider: String) -> DeliveryOutcome {
        DeliveryOutcome(
            index: job.index, provider: provider,
            transition: DeliveryTransition(
                deliveryID: job.claimed.job.deliveryID, status: .cancelled, attempt: job.claimed.attempt - 1,
                failure: DeliveryFailure(
                    code: "cancelled", .permanent, detail: "its send request was cancelled while it waited for its slot")))
    }

    /// How `notify_deliveries_total` counts an outcome.
    public enum Tally: String, Sendable, Equatable {
        case sent, retried, dead, deferred
    }

    /// How it is counted: a paced job `deferred`, a failure `retried` or `dead` (and by its code); a cancelled one
    /// not at all.
    public var tally: Tally? {
        switch (transition.status, transition.failure) {
        case (.sent, _): .sent
        case (.failed, let failure?) where failure.code == DeliveryFailure.pacedCode: .deferred
        case (.failed, _?): .retried
        case (.dead, _?): .dead
        default: nil
        }
    }
}
