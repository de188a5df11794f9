import Foundation
import NotifyCore
import NotifyStore
import Providers

/// One route's calls (`DeliveryRoute`): the worker asks the breakers which provider takes work, reserves its slots,
/// sends and sleeps; the route decides what each step comes to.
extension DeliveryWorker {
    /// Sends the route's jobs through the first provider of `chain` (the route's providers) whose breaker takes
    /// calls, call by call; returns what each job came to, and those not tried (held through a shutdown, or paced
    /// past a stop).
    func send(_ route: DeliveryRoute, through chain: [any DeliveryProvider], claimedAt: ContinuousClock.Instant) async -> DeliveryRound.Leg
    {
        var route = route
        let channel = route.channel
        while !route.isDone {
            // The first provider of the route whose breaker takes calls: the others are failed over to.
            guard let (provider, admits) = health.pick(chain) else {
                if await hold(&route, chain: chain, claimedAt: claimedAt) { continue } else { break }
            }
            var call = route.call(provider: provider.name, admits: admits, rateLimit: provider.rateLimit)
            if !call.slots.isEmpty {
                guard let paced = await pace(&route, call, claimedAt: claimedAt) else { break }
                call = paced
            }
            let jobs = route.take(call)
            // None: the route deferred its jobs to a tier, or every job of the call was cancelled while it waited.
            guard !jobs.isEmpty else { continue }
            let started = ContinuousClock.now
            let results = await provider.send(jobs.map(\.claimed))
            metrics.sent(jobs.count, channel: channel, provider: provider.name, took: .now - started)
            switch health.record(provider.name, results) {
            case .opened(let seconds):
                logger.error(
                    "provider breaker opened; failing over or holding",
                    metadata: [
                        "delivery.channel": "\(channel.rawValue)", "provider": "\(provider.name)", "breaker.open": "\(seconds) s",
                    ])
            case .closed:
                logger.info(
                    "provider breaker closed", metadata: ["delivery.channel": "\(channel.rawValue)", "provider": "\(provider.name)"])
            case nil: break
            }
            let report = route.record(results, of: jobs, provider: provider.name)
            metrics.deliveries(report.held, channel: channel, provider: provider.name, outcome: .held)
            metrics.deliveries(report.throttled, channel: channel, provider: provider.name, outcome: .throttled)
            if report.back {
                logger.info("provider is back", metadata: ["delivery.channel": "\(channel.rawValue)", "provider": "\(provider.name)"])
            }
            if let throttle = report.throttle { await honourRetryAfter(&route, provider: provider, for: throttle, claimedAt: claimedAt) }
        }
        return route.leg
    }

    /// Every provider of the route refuses work: holds the jobs (waiting for a breaker to let probes through), defers
    /// them, or stops, as the route says. False: stop.
    private func hold(_ route: inout DeliveryRoute, chain: [any DeliveryProvider], claimedAt: ContinuousClock.Instant) async -> Bool {
        let held = route.pending.count
        let reopensIn = health.reopensAt(chain).map { $0 - Date().timeIntervalSince1970 }
        switch route.hold(
            heldFor: Self.seconds(since: claimedAt), reopensIn: reopensIn, lastFailure: health.lastFailure(chain),
            stopping: Task.isShuttingDownGracefully || Task.isCancelled)
        {
        case .stop:
            return false
        case .deferred(let tier, let down):
            logger.error(
                "provider is still down; moving its held deliveries to a retry tier",
                metadata: [
                    "delivery.channel": "\(route.channel.rawValue)", "delivery.held": "\(held)", "error": "\(down)",
                    "retry.in": "\(tier) s",
                ])
        case .wait(let wait, let down):
            logger.error(
                "provider is down; holding its deliveries",
                metadata: [
                    "delivery.channel": "\(route.channel.rawValue)", "delivery.held": "\(held)", "error": "\(down)",
                    "retry.in": "\(wait) s",
                ])
            try? await Task.sleep(for: .seconds(wait))
        }
        return true
    }

    /// Reserves the call's slots of the provider's shared schedules (docs/architecture.md, "Pacing, not dropping") and waits until
    /// they are due, or gives them back when the route defers its jobs instead. After a wait, the jobs whose send
    /// request was cancelled meanwhile are dropped (a call made at once is in flight, as the cancel's reply counts
    /// it; when the database cannot be asked, every job goes). Returns the call to make; nil when shutdown came
    /// while the database could not be asked.
    private func pace(_ route: inout DeliveryRoute, _ call: DeliveryRoute.Call, claimedAt: ContinuousClock.Instant) async -> DeliveryRoute
        .Call?
    {
        guard let reserved = await reserve(call.slots) else { return nil }
        switch route.pace(call, reserved: reserved, heldFor: Self.seconds(since: claimedAt)) {
        case .deferred:
            try? await RateLimitStore.giveBack(call.slots, on: database)
            return call
        case .go(let wait):
            metrics.paced(provider: call.provider, waited: wait)
            guard wait > 0 else { return call }
            try? await Task.sleep(for: .seconds(wait))
            let ids = route.pending.prefix(call.size).map(\.claimed.job.deliveryID)
            return route.dropping(cancelled: (try? await DeliveryStore.cancelled(ids, on: database)) ?? [], from: call)
        }
    }

    /// The provider answered 429, asking for `seconds`: push its shared schedule, so every daemon's next call waits
    /// for it, or, for a provider without a rate limit (or a schedule that cannot be pushed), wait here unless the
    /// route defers its jobs instead.
    private func honourRetryAfter(
        _ route: inout DeliveryRoute, provider: any DeliveryProvider, for seconds: Double, claimedAt: ContinuousClock.Instant
    ) async {
        let heldFor = Self.seconds(since: claimedAt)
        logger.warning(
            "provider throttles; pacing its deliveries",
            metadata: [
                "delivery.channel": "\(route.channel.rawValue)", "provider": "\(provider.name)", "retry.in": "\(seconds) s",
            ])
        if let limit = provider.rateLimit {
            do {
                try await RateLimitStore.push("provider:\(provider.name)", by: seconds, limit: limit, on: database)
                return
            } catch {
                logger.error("cannot push the provider's shared schedule; waiting here", metadata: ["error": "\(error)"])
            }
        }
        if route.throttled(seconds, provider: provider.name, heldFor: heldFor) == nil { try? await Task.sleep(for: .seconds(seconds)) }
    }

    static func seconds(since instant: ContinuousClock.Instant) -> Double { Double((ContinuousClock.now - instant).milliseconds) / 1000 }
}
