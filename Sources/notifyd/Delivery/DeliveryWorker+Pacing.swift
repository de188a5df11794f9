import AMQP
import NotifyCore
import NotifyStore
import Providers

/// The delivery worker's pacing (docs/architecture.md, "Pacing, not dropping"): the shared GCRA schedules a batch passes before
/// its sends (`RateLimitStore`), and what becomes of a job whose slot is too far off to hold it for.
extension DeliveryWorker {
    enum Pace {
        /// The slots are due: send now. `waited`: the worker slept for them (a send request may have been cancelled
        /// meanwhile).
        case go(waited: Bool)
        /// The next slot is `wait` seconds away, longer than a job is held: wait it out in the tier of `tier` s.
        case `defer`(wait: Double, tier: Int)
        /// Shutting down while the database could not be asked: hand the jobs back.
        case stop
    }

    /// The schedules a round on `lane` passes: the provider's, and for the normal and low lanes also their
    /// share of it (`delivery.highLaneReservePercent` less), so bulk mail at the limit leaves room for the high lane.
    func providerLimits(_ limit: RateLimit, provider: String, lane: NotificationPriority) -> [(key: String, limit: RateLimit)] {
        let own = [(key: "provider:\(provider)", limit: limit)]
        let share = Double(100 - settings.highLaneReservePercent) / 100
        guard lane != .high, share < 1 else { return own }
        let bulk = RateLimit(perSecond: limit.perSecond * share, burst: Int((Double(limit.burst) * share).rounded(.down)))
        return own + [(key: "provider:\(provider):bulk", limit: bulk)]
    }

    /// Reserves a round's slots of the provider's shared schedules and waits until they are due, or says to defer
    /// the jobs when that would hold them (`heldFor` so far, plus the wait) longer than
    /// `delivery.maxPacingWaitSeconds` and the lane has a tier to wait in.
    func pace(
        _ requests: [RateLimitStore.Request], provider: String, lane: NotificationPriority, heldFor: Duration
    ) async -> Pace {
        guard let reservations = await reserve(requests) else { return .stop }
        let wait = requests.map { request in
            reservations[request.key].map {
                GCRA.wait(afterReserving: request.count, tat: $0.tat, now: $0.now, limit: request.limit)
            } ?? 0
        }.max() ?? 0
        let holding = Double(heldFor.milliseconds) / 1000 + wait
        if wait > 0, holding > Double(settings.maxPacingWait.milliseconds) / 1000,
           let tier = settings.retry.deferral(waiting: wait, lane: lane) {
            try? await RateLimitStore.giveBack(requests, on: database)
            return .defer(wait: wait, tier: tier)
        }
        metrics.paced(provider: provider, waited: wait)
        if wait > 0 { try? await Task.sleep(for: .seconds(wait)) }
        return .go(waited: wait > 0)
    }

    /// The per-recipient limit (`delivery.recipientLimitPerHour`): one slot per delivery of each recipient on this
    /// channel, reserved for the whole batch in one statement. A recipient over it has their deliveries deferred to
    /// the tier that waits at least until their next slot (without spending an attempt); a lane without tiers is
    /// not held back. Nil when shutdown came while the database could not be asked.
    func paceRecipients(
        _ sending: [(AMQPDelivery, ClaimedDelivery)], channel: NotificationChannel, limit: RateLimit, lane: NotificationPriority
    ) async -> (go: [(AMQPDelivery, ClaimedDelivery)], deferred: [Settled])? {
        let counts = Dictionary(sending.map { ("recipient:\(channel.rawValue):\($0.1.job.recipientKey)", 1) }, uniquingKeysWith: +)
        let requests = counts.map { RateLimitStore.Request(key: $0.key, count: $0.value, limit: limit) }
        guard let reservations = await reserve(requests) else { return nil }
        var over: [String: Double] = [:]
        for request in requests {
            guard let reservation = reservations[request.key] else { continue }
            let wait = GCRA.wait(afterReserving: request.count, tat: reservation.tat, now: reservation.now, limit: limit)
            if wait > 0, settings.retry.deferral(waiting: wait, lane: lane) != nil { over[request.key] = wait }
        }
        guard !over.isEmpty else { return (sending, []) }
        try? await RateLimitStore.giveBack(requests.filter { over[$0.key] != nil }, on: database)
        var go: [(AMQPDelivery, ClaimedDelivery)] = []
        var deferred: [Settled] = []
        for job in sending {
            if let wait = over["recipient:\(channel.rawValue):\(job.1.job.recipientKey)"], let tier = settings.retry.deferral(waiting: wait, lane: lane) {
                deferred.append(self.deferred(
                    job.0, job.1, failure: .paced("recipient", wait: wait), tier: tier, provider: providers[channel]?.first?.name ?? "none"))
            } else {
                go.append(job)
            }
        }
        return (go, deferred)
    }

    /// The provider answered 429, asking for `seconds`: push its shared schedule, so every daemon's next round
    /// waits for it (`pace`), or, for a provider without a rate limit, wait here. Returns the tier to defer the
    /// round's jobs to when that wait would hold them longer than `delivery.maxPacingWaitSeconds`.
    func honourRetryAfter(
        provider: any DeliveryProvider, for seconds: Double, channel: NotificationChannel, lane: NotificationPriority, heldFor: Duration
    ) async -> Int? {
        logger.warning("provider throttles; pacing its deliveries", metadata: [
            "delivery.channel": "\(channel.rawValue)", "provider": "\(provider.name)", "retry.in": "\(seconds) s",
        ])
        if let limit = provider.rateLimit {
            do {
                try await RateLimitStore.push("provider:\(provider.name)", by: seconds, limit: limit, on: database)
                return nil
            } catch {
                logger.error("cannot push the provider's shared schedule; waiting here", metadata: ["error": "\(error)"])
            }
        }
        if Double(heldFor.milliseconds) / 1000 + seconds > Double(settings.maxPacingWait.milliseconds) / 1000,
           let tier = settings.retry.deferral(waiting: seconds, lane: lane) {
            return tier
        }
        try? await Task.sleep(for: .seconds(seconds))
        return nil
    }

    /// Reserves slots, asking again each second while the database cannot be asked (nothing is sent unpaced);
    /// nil when shutdown comes first.
    func reserve(_ requests: [RateLimitStore.Request]) async -> [String: RateLimitStore.Reservation]? {
        while true {
            do {
                return try await RateLimitStore.reserve(requests, on: database)
            } catch {
                logger.error("cannot reserve rate-limit slots; asking again", metadata: ["error": "\(error)"])
                if Task.isShuttingDownGracefully || Task.isCancelled { return nil }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    /// A job that was not tried (its slot too far off, or its provider down for longer than a job is held): back
    /// to a tier as it is, its attempt not spent.
    func deferred(
        _ delivery: AMQPDelivery, _ claimed: ClaimedDelivery, failure: DeliveryFailure, tier: Int, provider: String
    ) -> Settled {
        Settled(
            delivery: delivery, provider: provider,
            transition: DeliveryTransition(
                deliveryID: claimed.job.deliveryID, status: .failed, attempt: claimed.attempt - 1, failure: failure),
            retry: retryCopy(delivery, attempt: claimed.attempt - 1, failure: failure, delay: tier))
    }

    /// The deliveries of `round` whose send request was cancelled (`CancelRequest`) while they waited for their slot,
    /// recorded `cancelled` with their attempt unspent; the rest go. Asked only after a wait: a round sent at once
    /// is in flight, as the cancel's reply counts it. When the database cannot be asked, everything goes.
    func droppingCancelled(_ round: [(AMQPDelivery, ClaimedDelivery)], provider: String) async -> (go: [(AMQPDelivery, ClaimedDelivery)], cancelled: [Settled]) {
        guard let stopped = try? await DeliveryStore.cancelled(round.map(\.1.job.deliveryID), on: database), !stopped.isEmpty else {
            return (round, [])
        }
        var go: [(AMQPDelivery, ClaimedDelivery)] = []
        var cancelled: [Settled] = []
        for (delivery, claimed) in round {
            guard stopped.contains(claimed.job.deliveryID.lowercased()) else {
                go.append((delivery, claimed))
                continue
            }
            cancelled.append(Settled(delivery: delivery, provider: provider, transition: DeliveryTransition(
                deliveryID: claimed.job.deliveryID, status: .cancelled, attempt: claimed.attempt - 1,
                failure: DeliveryFailure(code: "cancelled", .permanent, detail: "its send request was cancelled while it waited for its slot"))))
        }
        return (go, cancelled)
    }
}
