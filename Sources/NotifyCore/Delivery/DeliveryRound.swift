/// What a delivery round decides, as a value with no I/O: the jobs of one channel from one batch of one lane, from
/// their claims to what each came to. The delivery worker does the I/O (claims, rate-limit reservations, provider
/// calls, publishes, records) and asks the round at each step; the round decides which jobs are sent (the rest are
/// acked as they are), which recipients are over their limit (deferred), which providers each job goes through (one
/// route per channel, for push one per platform), and merges the outcomes of a job sent on several routes. Each
/// route's calls are a `DeliveryRoute`. Tested without servers, like the connection's state machine.
public struct DeliveryRound: Sendable {
    /// The `delivery.*` settings a round decides with.
    public struct Policy: Sendable, Equatable {
        public var retry: RetryPolicy
        /// The longest a job is held for its rate-limit slot or a provider's `Retry-After` before it waits in a tier.
        public var maxPacingWaitSeconds: Double
        /// The longest a job is held while every provider of its route is down before it waits in a tier.
        public var maxProviderHoldSeconds: Double
        /// The share of a provider's rate the normal and low lanes leave to the high lane.
        public var highLaneReservePercent: Int

        public init(
            retry: RetryPolicy = RetryPolicy(), maxPacingWaitSeconds: Double = 60, maxProviderHoldSeconds: Double = 300,
            highLaneReservePercent: Int = 20
        ) {
            self.retry = retry
            self.maxPacingWaitSeconds = maxPacingWaitSeconds
            self.maxProviderHoldSeconds = maxProviderHoldSeconds
            self.highLaneReservePercent = highLaneReservePercent
        }
    }

    public let channel: NotificationChannel
    public let lane: NotificationPriority
    public let policy: Policy
    /// Mints the ids of fallback deliveries (a dead job's rule's fallback).
    let newID: @Sendable () -> String
    /// The places of jobs whose claim found nothing to send (skipped, held, settled): acked as they are.
    public let finished: [Int]
    /// The jobs to send, in batch order.
    public private(set) var sending: [RoundJob]
    /// What was decided before any provider: jobs of recipients over their limit, deferred.
    public private(set) var outcomes: [DeliveryOutcome] = []

    /// `claims`: what the claim of each job of the channel gave to send, nil for nothing.
    public init(
        claims: [ClaimedDelivery?], channel: NotificationChannel, lane: NotificationPriority, policy: Policy,
        newID: @escaping @Sendable () -> String
    ) {
        self.channel = channel
        self.lane = lane
        self.policy = policy
        self.newID = newID
        finished = claims.indices.filter { claims[$0] == nil }
        sending = claims.enumerated().compactMap { index, claim in claim.map { RoundJob(index: index, claimed: $0) } }
    }

    // MARK: - The per-recipient limit

    /// The slots the per-recipient limit (`delivery.recipientLimitPerHour`) asks of each recipient's schedule on
    /// this channel: one per job, reserved for the whole round in one statement.
    public func recipientSlots(limit: RateLimit) -> [SlotRequest] {
        let counts = Dictionary(sending.map { (recipientKey($0), 1) }, uniquingKeysWith: +)
        return counts.map { SlotRequest(key: $0.key, count: $0.value, limit: limit) }
    }

    private func recipientKey(_ job: RoundJob) -> String { "recipient:\(channel.rawValue):\(job.claimed.job.recipientKey)" }

    /// Given what reserving `requests` left: a recipient over the limit has their jobs deferred to the tier that waits
    /// at least until their next slot (their attempt unspent; `provider`, the channel's first, counts them); a lane
    /// without tiers is not held back. Returns the requests whose slots go back (those of the deferred recipients).
    public mutating func paceRecipients(
        _ requests: [SlotRequest], reserved: [String: SlotReservation], provider: String
    ) -> [SlotRequest] {
        var over: [String: Double] = [:]
        for request in requests {
            guard let reservation = reserved[request.key] else { continue }
            let wait = request.wait(after: reservation)
            if wait > 0, policy.retry.deferral(waiting: wait, lane: lane) != nil { over[request.key] = wait }
        }
        guard !over.isEmpty else { return [] }
        var go: [RoundJob] = []
        for job in sending {
            if let wait = over[recipientKey(job)], let tier = policy.retry.deferral(waiting: wait, lane: lane) {
                outcomes.append(.deferred(job, provider: provider, failure: .paced("recipient", wait: wait), tier: tier))
            } else {
                go.append(job)
            }
        }
        sending = go
        return requests.filter { over[$0.key] != nil }
    }

    // MARK: - Routes

    /// A chain of providers (by their places in the channel's chain, in failover order) and the jobs sent through it.
    public struct Route: Sendable, Equatable {
        /// What it delivers, for errors: "on email", "to apns push tokens".
        public var name: String
        public var providers: [Int]
        public var jobs: [RoundJob]

        public init(name: String, providers: [Int], jobs: [RoundJob]) {
            self.name = name
            self.providers = providers
            self.jobs = jobs
        }
    }

    /// The routes of the jobs to send, given the platform of each provider of the channel's chain: one route with the
    /// whole chain, but for push one per platform the recipients have tokens for (an iPhone's token through APNs,
    /// an Android's through FCM, each judged by its own breaker), and one with no provider for tokens of no known
    /// platform. Never empty.
    public func routes(platforms: [PushToken.Platform?]) -> [Route] {
        let chain = Array(platforms.indices)
        guard channel == .push, !sending.isEmpty else { return [Route(name: "on \(channel.rawValue)", providers: chain, jobs: sending)] }
        let tokens = sending.map { Set(PushToken.list(json: $0.claimed.address).map(\.platform)) }
        let unknown = zip(sending, tokens).filter { $0.1.isEmpty }.map(\.0)
        return PushToken.Platform.allCases.compactMap { platform in
            let jobs = zip(sending, tokens).filter { $0.1.contains(platform) }.map(\.0)
            return jobs.isEmpty
                ? nil
                : Route(name: "to \(platform.rawValue) push tokens", providers: chain.filter { platforms[$0] == platform }, jobs: jobs)
        } + (unknown.isEmpty ? [] : [Route(name: "to push tokens of no platform it knows", providers: [], jobs: unknown)])
    }

    /// The calls of one route, to be made by the worker.
    public func route(_ route: Route, providers names: [String]) -> DeliveryRoute {
        DeliveryRoute(name: route.name, providers: names, jobs: route.jobs, channel: channel, lane: lane, policy: policy, newID: newID)
    }

    // MARK: - Jobs on several routes

    /// What one route came to: outcomes, and the jobs it did not try (handed back).
    public struct Leg: Sendable, Equatable {
        public var outcomes: [DeliveryOutcome]
        public var unsent: [RoundJob]

        public init(outcomes: [DeliveryOutcome], unsent: [RoundJob]) {
            self.outcomes = outcomes
            self.unsent = unsent
        }

        /// The leg's own part (recorded as soon as the route is done) and the part of jobs shared with other routes
        /// (recorded once all of them are done, merged).
        public func split(shared: Set<Int>) -> (own: Leg, shared: Leg) {
            (
                Leg(outcomes: outcomes.filter { !shared.contains($0.index) }, unsent: unsent.filter { !shared.contains($0.index) }),
                Leg(outcomes: outcomes.filter { shared.contains($0.index) }, unsent: unsent.filter { shared.contains($0.index) })
            )
        }
    }

    /// The places of jobs on more than one route (a push to tokens of several platforms), given each route's jobs.
    public static func shared(_ routes: [[RoundJob]]) -> Set<Int> {
        var seen: [Int: Int] = [:]
        for jobs in routes { for job in jobs { seen[job.index, default: 0] += 1 } }
        return Set(seen.filter { $0.value > 1 }.keys)
    }

    /// One job's outcomes on several routes come to one: sent if one route sent it; else handed back if one route
    /// could not try yet; else the retry, else dead. `legs` in route order: between equal outcomes the first is kept.
    public static func merge(_ legs: [Leg]) -> Leg {
        func rank(_ outcome: DeliveryOutcome) -> Int {
            switch outcome.transition.status {
            case .sent: 0
            case .dead: 3
            default: 2
            }
        }
        var best: [Int: (rank: Int, outcome: DeliveryOutcome?, unsent: RoundJob?)] = [:]
        var order: [Int] = []
        func offer(_ index: Int, _ candidate: (rank: Int, outcome: DeliveryOutcome?, unsent: RoundJob?)) {
            if let current = best[index] {
                if candidate.rank < current.rank { best[index] = candidate }
            } else {
                best[index] = candidate
                order.append(index)
            }
        }
        for leg in legs {
            for outcome in leg.outcomes { offer(outcome.index, (rank(outcome), outcome, nil)) }
            for job in leg.unsent { offer(job.index, (1, nil, job)) }
        }
        let chosen = order.map { best[$0]! }
        return Leg(outcomes: chosen.compactMap(\.outcome), unsent: chosen.compactMap(\.unsent))
    }
}
