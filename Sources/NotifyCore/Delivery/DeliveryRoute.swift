/// One route of a delivery round (`DeliveryRound.Route`), call by call, as a value with no I/O: the worker asks the
/// breakers which provider takes work, reserves slots, calls the provider and sleeps; the route decides what each
/// step comes to. Not sent yet, in order, are the pending jobs; a call takes from their front what the provider's
/// breaker and rate limit let go. Every provider refusing work holds the jobs (their attempts unspent) and, held
/// longer than `maxProviderHoldSeconds`, defers them to a tier; a slot or a `Retry-After` further off than
/// `maxPacingWaitSeconds` defers them too; a provider-wide failure holds the call's jobs for the next provider
/// (failover) and a throttled one puts them first in the next call; a transient failure retries in its tier, a
/// permanent one or the last attempt is dead and parked.
public struct DeliveryRoute: Sendable {
    /// What the route delivers, for errors.
    public let name: String
    /// The route's providers in failover order, by name.
    public let providers: [String]
    public let channel: NotificationChannel
    public let lane: NotificationPriority
    let policy: DeliveryRound.Policy
    let newID: @Sendable () -> String
    /// Not sent yet, in order.
    public private(set) var pending: [RoundJob]
    /// What the jobs tried or given up so far came to.
    public private(set) var outcomes: [DeliveryOutcome] = []
    /// Whether every provider was found refusing work, or failing provider-wide, since the last call that went through.
    private var wasDown = false
    /// The last provider-wide failure a call met: what held jobs are recorded with.
    private var lastDown: DeliveryFailure?

    /// A route with no provider has every job dead (`no-provider`) at once.
    init(
        name: String, providers: [String], jobs: [RoundJob], channel: NotificationChannel, lane: NotificationPriority,
        policy: DeliveryRound.Policy, newID: @escaping @Sendable () -> String
    ) {
        self.name = name
        self.providers = providers
        self.channel = channel
        self.lane = lane
        self.policy = policy
        self.newID = newID
        pending = jobs
        if providers.isEmpty, !jobs.isEmpty {
            let failure = DeliveryFailure(code: "no-provider", .permanent, detail: "no provider delivers \(name)")
            outcomes = jobs.map { .dead($0, provider: "none", failure: failure, fallbackID: newID()) }
            pending = []
        }
    }

    /// Nothing is left to try.
    public var isDone: Bool { pending.isEmpty }

    /// The jobs not tried (held through a shutdown, or paced past a stop): handed back.
    public var leg: DeliveryRound.Leg { DeliveryRound.Leg(outcomes: outcomes, unsent: pending) }

    // MARK: - Every provider refusing work

    /// What holding the jobs comes to.
    public enum Hold: Sendable, Equatable {
        /// Shutting down: the jobs go back untried.
        case stop
        /// Held too long: the jobs went to the tier of `tier` seconds, their attempts unspent.
        case deferred(tier: Int, failure: DeliveryFailure)
        /// Ask the breakers again after `seconds`.
        case wait(seconds: Double, failure: DeliveryFailure)
    }

    /// Every provider's breaker refuses calls: hold the jobs, their attempts unspent, until a breaker lets probes
    /// through (`reopensIn` seconds, if known, waiting 50 ms to 5 s at a time); held (`heldFor` seconds since the
    /// claim) longer than `maxProviderHoldSeconds`, they wait in a tier instead, so `consumer_timeout` never
    /// closes the channel. `lastFailure`: why the breakers opened.
    public mutating func hold(heldFor: Double, reopensIn: Double?, lastFailure: DeliveryFailure?, stopping: Bool) -> Hold {
        wasDown = true
        if stopping { return .stop }
        let down =
            lastDown ?? lastFailure
            ?? DeliveryFailure(code: "breaker-open", .provider, detail: "every provider of \(channel.rawValue) is failing")
        if heldFor > policy.maxProviderHoldSeconds, let tier = policy.retry.deferral(waiting: policy.maxProviderHoldSeconds, lane: lane) {
            deferAll(failure: down, tier: tier, provider: providers[0])
            return .deferred(tier: tier, failure: down)
        }
        return .wait(seconds: Swift.min(5, Swift.max(0.05, reopensIn ?? 0)), failure: down)
    }

    // MARK: - A call

    /// One call to a provider: how many pending jobs it takes, and the slots of the shared schedules it reserves first.
    public struct Call: Sendable, Equatable {
        public var provider: String
        public var size: Int
        /// None for a provider without a rate limit.
        public var slots: [SlotRequest]
    }

    /// The next call, to `provider` (the first whose breaker admits `admits` calls): at most that many jobs, and with a
    /// rate limit at most the smallest burst of the schedules it passes: the provider's and, on the normal and low
    /// lanes, their share of it (`highLaneReservePercent` less), so bulk mail at the limit leaves room for the high lane.
    public func call(provider: String, admits: Int, rateLimit: RateLimit?) -> Call {
        let size = Swift.min(admits, pending.count)
        guard let rateLimit else { return Call(provider: provider, size: size, slots: []) }
        var limits = [(key: "provider:\(provider)", limit: rateLimit)]
        let share = Double(100 - policy.highLaneReservePercent) / 100
        if lane != .high, share < 1 {
            let bulk = RateLimit(perSecond: rateLimit.perSecond * share, burst: Int((Double(rateLimit.burst) * share).rounded(.down)))
            limits.append((key: "provider:\(provider):bulk", limit: bulk))
        }
        let paced = Swift.min(limits.map(\.limit.burst).min() ?? 1, size)
        return Call(provider: provider, size: paced, slots: limits.map { SlotRequest(key: $0.key, count: paced, limit: $0.limit) })
    }

    /// What a call's reserved slots come to.
    public enum Pace: Sendable, Equatable {
        /// Wait `seconds` for the slots (zero: they are due), then call.
        case go(wait: Double)
        /// The slots are `wait` seconds off, longer than a job is held: every pending job went to the tier of `tier`
        /// seconds, their attempts unspent; the slots go back.
        case deferred(wait: Double, tier: Int)
    }

    /// Given what reserving the call's slots left (`heldFor` seconds since the claim).
    public mutating func pace(_ call: Call, reserved: [String: SlotReservation], heldFor: Double) -> Pace {
        let wait = call.slots.map { request in reserved[request.key].map { request.wait(after: $0) } ?? 0 }.max() ?? 0
        if wait > 0, heldFor + wait > policy.maxPacingWaitSeconds, let tier = policy.retry.deferral(waiting: wait, lane: lane) {
            deferAll(failure: .paced(call.provider, wait: wait), tier: tier, provider: call.provider)
            return .deferred(wait: wait, tier: tier)
        }
        return .go(wait: wait)
    }

    /// After waiting for its slots: the call's jobs whose send request was cancelled meanwhile (`cancelled`, lower-case
    /// delivery ids) are recorded `cancelled`, their attempts unspent; returns the call with the rest.
    public mutating func dropping(cancelled: Set<String>, from call: Call) -> Call {
        let taken = pending.prefix(call.size)
        let stopped = taken.filter { cancelled.contains($0.claimed.job.deliveryID.lowercased()) }
        guard !stopped.isEmpty else { return call }
        outcomes += stopped.map { .cancelled($0, provider: call.provider) }
        let go = taken.filter { !cancelled.contains($0.claimed.job.deliveryID.lowercased()) }
        pending = go + pending.dropFirst(call.size)
        var call = call
        call.size = go.count
        return call
    }

    /// The jobs of `call`, taken from the front of the pending ones: what the worker sends.
    public mutating func take(_ call: Call) -> [RoundJob] {
        let jobs = Array(pending.prefix(call.size))
        pending.removeFirst(jobs.count)
        return jobs
    }

    // MARK: - Results

    /// What a call's results came to, besides the outcomes.
    public struct Report: Sendable, Equatable {
        /// Jobs held for the next provider (this one failed provider-wide), first in the next call.
        public var held = 0
        /// Jobs the provider throttled, first in the next call after its wait.
        public var throttled = 0
        /// The longest wait the provider asked for, when no job was held: the worker pushes its schedule or waits.
        public var throttle: Double?
        /// The call went through after the route was down: the provider is back.
        public var back = false

        public init(held: Int = 0, throttled: Int = 0, throttle: Double? = nil, back: Bool = false) {
            self.held = held
            self.throttled = throttled
            self.throttle = throttle
            self.back = back
        }
    }

    /// Records the results of sending `jobs` (one each, in order) through `provider`: sent, retried in their tier,
    /// dead, or held for the next call (provider-wide failures, throttles; their attempts unspent).
    public mutating func record(_ results: [DeliveryResult], of jobs: [RoundJob], provider: String) -> Report {
        var held: [RoundJob] = []
        var throttled: [RoundJob] = []
        var throttle: Double?
        var down: DeliveryFailure?
        for (job, result) in zip(jobs, results) {
            switch result {
            case .sent(let messageID):
                outcomes.append(.sent(job, provider: provider, messageID: messageID))
            case .failed(let failure):
                switch policy.retry.next(after: failure, attempt: job.claimed.attempt, lane: lane, retries: job.claimed.job.retries) {
                case .holdProvider:
                    held.append(job)
                    down = failure
                case .throttled(let seconds):
                    throttled.append(job)
                    throttle = Swift.max(throttle ?? 0, seconds)
                case .retry(let delay):
                    outcomes.append(.retried(job, provider: provider, failure: failure, delay: delay))
                case .dead:
                    outcomes.append(.dead(job, provider: provider, failure: failure, fallbackID: newID()))
                }
            }
        }
        pending = held + throttled + pending
        var report = Report(held: held.count, throttled: throttled.count)
        if let down {
            lastDown = down
            wasDown = true
        } else {
            report.back = wasDown
            wasDown = false
            report.throttle = throttle
        }
        return report
    }

    /// The provider asked for `seconds` and its shared schedule could not carry the wait (it has no rate limit, or the
    /// schedule could not be pushed): when waiting here (`heldFor` seconds since the claim) would hold the jobs longer
    /// than `maxPacingWaitSeconds`, every pending job goes to a tier, its attempt unspent, and the tier is returned;
    /// nil: wait here.
    public mutating func throttled(_ seconds: Double, provider: String, heldFor: Double) -> Int? {
        guard heldFor + seconds > policy.maxPacingWaitSeconds, let tier = policy.retry.deferral(waiting: seconds, lane: lane) else {
            return nil
        }
        deferAll(failure: .paced(provider, wait: seconds), tier: tier, provider: provider)
        return tier
    }

    private mutating func deferAll(failure: DeliveryFailure, tier: Int, provider: String) {
        outcomes += pending.map { .deferred($0, provider: provider, failure: failure, tier: tier) }
        pending = []
    }
}
