import AMQP
import Foundation
import Logging
import NotifyCore
import NotifyStore
import Postgres
import Providers
import Resilience
import ServiceLifecycle

/// Takes delivery jobs from the lanes and makes them: claim (the recipient's current address, the attempt
/// number), send through the channel's provider, then — in this order, so a crash can only repeat work, never
/// lose it — publish retry and dead-letter copies with confirms, record every transition, ack the jobs.
///
/// - Lanes: one consumer per lane on the worker's own connection, each with its own prefetch; `workers` batches
///   are in flight at once, each from one lane (`LaneInbox`), high first; `highLaneWorkers` more take only the
///   high lane, so an urgent job never waits for a batch of bulk mail to finish.
/// - Retries: a transient failure goes to the tier of its attempt (`RetryPolicy`), a queue whose TTL sends it
///   back to its lane; a permanent one, or the last attempt, is `dead` and parked with its reason.
/// - A provider-wide failure (unreachable, TLS or AUTH refused) spends no attempt: the worker holds the batch and
///   tries again with backoff, taking nothing else meanwhile, and logs the provider down and back up.
struct DeliveryWorker: Service {
    let connection: AMQPConnection
    let database: PGPool
    /// By channel, in failover order.
    let providers: [NotificationChannel: [any DeliveryProvider]]
    let parker: DeadLetterParker
    let names: ContractNames
    let settings: DeliverySettings
    /// Shared with readiness and the metrics sampler, which read the lanes' ages from it.
    let inbox: LaneInbox
    let health: ProviderHealth
    let metrics: DaemonMetrics
    /// Wakes the outbox relay when a claim or record queued a fallback delivery's job.
    let outboxCommitted: @Sendable () -> Void
    let logger: Logger

    static let part = "delivery"

    func run() async throws {
        var consumers: [AMQPConsumer] = []
        for lane in NotificationPriority.allCases {
            consumers.append(try await connection.consume(
                queue: names.laneQueue(lane), prefetch: UInt16(settings.prefetch(lane))
            ) { inbox.put($0, lane: lane) })
        }
        let lanes = consumers
        await withGracefulShutdownHandler {
            // Cancelled (the group gave up on draining): the workers waiting for jobs must end too.
            await withTaskCancellationHandler { await work() } onCancel: { inbox.close() }
        } onGracefulShutdown: {
            // Stop new deliveries, finish what was received, then let the workers end.
            Task {
                for consumer in lanes { try? await connection.cancel(consumer) }
                inbox.close()
            }
        }
        for provider in providers.values.joined() { await provider.shutdown() }
    }

    /// The workers, until the inbox is closed and empty.
    private func work() async {
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<settings.workers + settings.highLaneWorkers {
                group.addTask {
                    let highOnly = index >= settings.workers
                    while let batch = await inbox.take(max: settings.batchSize, highOnly: highOnly) {
                        await process(batch.deliveries, lane: batch.lane)
                        inbox.done(batch)
                    }
                }
            }
        }
    }

    /// One batch of one lane, from jobs to acks.
    func process(_ batch: [AMQPDelivery], lane: NotificationPriority) async {
        var jobs: [(AMQPDelivery, DeliveryJob)] = []
        var malformed: [(delivery: AMQPDelivery, rejection: Rejection)] = []
        for delivery in batch {
            do {
                jobs.append((delivery, try DeliveryJob(body: delivery.body)))
            } catch {
                malformed.append((delivery, error))
            }
        }
        var done: [AMQPDelivery] = []
        var requeue: [AMQPDelivery] = []
        if !malformed.isEmpty {
            let unparked = await parker.park(malformed)
            requeue += unparked
            done += malformed.map(\.delivery).filter { delivery in !unparked.contains { $0.deliveryTag == delivery.deliveryTag } }
            logger.error("parked malformed delivery jobs", metadata: ["delivery.lane": "\(lane)", "parked": "\(malformed.count - unparked.count)"])
        }
        for channel in Set(jobs.map(\.1.channel)) {
            let (finished, handBack) = await deliver(jobs.filter { $0.1.channel == channel }, channel: channel, lane: lane)
            done += finished
            requeue += handBack
        }
        connection.settle(.individually(acking: done, requeueing: requeue))
    }

    /// What an attempt at one job came to: the transition to record, and the copy to publish first (a retry
    /// tier's, or the dead-letter queue's).
    struct Settled {
        var delivery: AMQPDelivery
        /// The provider it went through (or was meant for), for its metrics.
        var provider: String
        var transition: DeliveryTransition
        var retry: AMQPOutgoingMessage?
        var park: (Rejection, [String: AMQPFieldValue])?
        /// For a dead delivery, its rule's fallback, queued with the record.
        var fallback: DeliveryJob?
    }

    /// The jobs of one channel; returns the deliveries to ack and those to hand back to the broker.
    private func deliver(
        _ jobs: [(AMQPDelivery, DeliveryJob)], channel: NotificationChannel, lane: NotificationPriority
    ) async -> (done: [AMQPDelivery], requeue: [AMQPDelivery]) {
        let claims: [DeliveryStore.Claim]
        // A delivery found without an address gets its rule's fallback in the same transaction.
        var fallbacks: [String: DeliveryJob] = [:]
        for (_, job) in jobs {
            if let fallback = job.fallbackJob(id: RandomID.uuid()) { fallbacks[job.deliveryID.lowercased()] = fallback }
        }
        do {
            claims = try await DeliveryStore.claim(jobs.map(\.1), fallbacks: fallbacks, workExchange: names.workExchange, on: database)
            if zip(jobs, claims).contains(where: { $1 == .skipped && $0.1.fallback != nil }) { outboxCommitted() }
        } catch {
            logger.error("cannot claim deliveries; handing them back", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            return ([], jobs.map(\.0))
        }
        var done: [AMQPDelivery] = []
        var requeue: [AMQPDelivery] = []
        var sending: [(AMQPDelivery, ClaimedDelivery)] = []
        for ((delivery, _), claim) in zip(jobs, claims) {
            if case .send(let claimed) = claim { sending.append((delivery, claimed)) } else { done.append(delivery) }
        }
        var settled: [Settled] = []
        let claimedAt = ContinuousClock.now
        if let limit = settings.recipientLimit(lane) {
            guard let (go, over) = await paceRecipients(sending, channel: channel, limit: limit, lane: lane) else {
                await release(sending, why: Self.notSent)
                return (done, sending.map(\.0))
            }
            sending = go
            settled += over
        }
        let routes = routes(sending, channel: channel)
        guard routes.count > 1 else {
            let (sent, unsent) = await send(routes[0].deliveries, through: routes[0].chain, route: routes[0].route,
                                            channel: channel, lane: lane, claimedAt: claimedAt)
            let (recorded, handBack) = await settle(settled + sent, channel: channel)
            await release(unsent, why: Self.notSent)
            return (done + recorded, handBack + unsent.map(\.0))
        }
        if !settled.isEmpty {
            let (recorded, handBack) = await settle(settled, channel: channel)
            done += recorded
            requeue += handBack
        }
        // Every route at once, each recorded as soon as it is done, so one platform's provider being held (its
        // breaker open) neither holds nor leaves unrecorded the other platform's pushes; a delivery on several
        // routes is recorded once all of them are done, as their outcomes merged.
        var seen: [UInt64: Int] = [:]
        for route in routes { for (delivery, _) in route.deliveries { seen[delivery.deliveryTag, default: 0] += 1 } }
        let shared = Set(seen.filter { $0.value > 1 }.keys)
        typealias Leg = (settled: [Settled], unsent: [(AMQPDelivery, ClaimedDelivery)])
        let outcomes = await withTaskGroup(of: (index: Int, done: [AMQPDelivery], requeue: [AMQPDelivery], shared: Leg).self) { group in
            for (index, (route, chain, deliveries)) in routes.enumerated() {
                group.addTask {
                    let leg = await send(deliveries, through: chain, route: route, channel: channel, lane: lane, claimedAt: claimedAt)
                    let (recorded, handBack) = await settle(leg.settled.filter { !shared.contains($0.delivery.deliveryTag) }, channel: channel)
                    let unsent = leg.unsent.filter { !shared.contains($0.0.deliveryTag) }
                    await release(unsent, why: Self.notSent)
                    return (index, recorded, handBack + unsent.map(\.0), (leg.settled.filter { shared.contains($0.delivery.deliveryTag) },
                                                                          leg.unsent.filter { shared.contains($0.0.deliveryTag) }))
                }
            }
            // In route order, so a merge between equal outcomes always keeps the same one.
            return await group.reduce(into: []) { $0.append($1) }.sorted { $0.index < $1.index }
        }
        let (merged, unsent) = Self.merge(outcomes.map(\.shared))
        let (recorded, handBack) = await settle(merged, channel: channel)
        await release(unsent, why: Self.notSent)
        return (done + outcomes.flatMap(\.done) + recorded, requeue + outcomes.flatMap(\.requeue) + handBack + unsent.map(\.0))
    }

    /// The provider chains (each in failover order) a channel's deliveries go through, each with its deliveries:
    /// one chain per channel, but for push one per platform the recipients have tokens for, so an iPhone's token
    /// goes through APNs and an Android's through FCM, each judged by its own breaker.
    private func routes(
        _ sending: [(AMQPDelivery, ClaimedDelivery)], channel: NotificationChannel
    ) -> [(route: String, chain: [any DeliveryProvider], deliveries: [(AMQPDelivery, ClaimedDelivery)])] {
        let chain = providers[channel] ?? []
        guard channel == .push, !sending.isEmpty else { return [("on \(channel.rawValue)", chain, sending)] }
        let platforms = sending.map { Set(PushToken.list(json: $0.1.address).map(\.platform)) }
        let unknown = zip(sending, platforms).filter { $0.1.isEmpty }.map(\.0)
        return PushToken.Platform.allCases.compactMap { platform in
            let deliveries = zip(sending, platforms).filter { $0.1.contains(platform) }.map(\.0)
            return deliveries.isEmpty ? nil : ("to \(platform.rawValue) push tokens", chain.filter { $0.platform == platform }, deliveries)
        } + (unknown.isEmpty ? [] : [("to push tokens of no platform it knows", [], unknown)])
    }

    /// One delivery's outcomes on several routes (push to several platforms) come to one: sent if one route sent
    /// it; else handed back if one route could not try yet; else the retry, else dead.
    static func merge(
        _ legs: [(settled: [Settled], unsent: [(AMQPDelivery, ClaimedDelivery)])]
    ) -> (settled: [Settled], unsent: [(AMQPDelivery, ClaimedDelivery)]) {
        func rank(_ entry: Settled) -> Int {
            switch entry.transition.status {
            case .sent: 0
            case .dead: 3
            default: 2
            }
        }
        var best: [UInt64: (rank: Int, settled: Settled?, unsent: (AMQPDelivery, ClaimedDelivery)?)] = [:]
        var order: [UInt64] = []
        func offer(_ tag: UInt64, _ candidate: (rank: Int, settled: Settled?, unsent: (AMQPDelivery, ClaimedDelivery)?)) {
            if let current = best[tag] {
                if candidate.rank < current.rank { best[tag] = candidate }
            } else {
                best[tag] = candidate
                order.append(tag)
            }
        }
        for leg in legs {
            for entry in leg.settled { offer(entry.delivery.deliveryTag, (rank(entry), entry, nil)) }
            for entry in leg.unsent { offer(entry.0.deliveryTag, (1, nil, entry)) }
        }
        let chosen = order.map { best[$0]! }
        return (chosen.compactMap(\.settled), chosen.compactMap(\.unsent))
    }

    /// Sends `sending` through the first provider of `chain` whose breaker takes calls, round by round (`route`
    /// names the chain in errors); returns what each delivery came to, and those not tried (held through a
    /// shutdown, or paced past a stop).
    private func send(
        _ sending: [(AMQPDelivery, ClaimedDelivery)], through chain: [any DeliveryProvider], route: String,
        channel: NotificationChannel, lane: NotificationPriority, claimedAt: ContinuousClock.Instant
    ) async -> (settled: [Settled], unsent: [(AMQPDelivery, ClaimedDelivery)]) {
        var settled: [Settled] = []
        // Not sent yet, in order; a round takes what the provider's breaker and rate limit let go.
        var pending = sending[...]
        var wasDown = false
        var lastDown: DeliveryFailure?
        rounds: while !pending.isEmpty {
            if chain.isEmpty {
                let failure = DeliveryFailure(code: "no-provider", .permanent, detail: "no provider delivers \(route)")
                settled += pending.map { dead($0.0, $0.1, failure: failure, channel: channel, provider: "none") }
                pending = []
                break
            }
            // The first provider of the channel whose breaker takes calls: the others are failed over to.
            guard let (provider, calls) = health.pick(chain) else {
                // Every provider refuses work: hold the jobs, their attempts unspent, until a breaker lets probes
                // through; held long enough, they wait in a tier, so `consumer_timeout` never closes the channel.
                wasDown = true
                if Task.isShuttingDownGracefully || Task.isCancelled { break }
                let down = lastDown ?? health.lastFailure(chain)
                    ?? DeliveryFailure(code: "breaker-open", .provider, detail: "every provider of \(channel.rawValue) is failing")
                if ContinuousClock.now - claimedAt > settings.maxProviderHold,
                   let tier = settings.retry.deferral(waiting: Double(settings.maxProviderHold.milliseconds) / 1000, lane: lane) {
                    logger.error("provider is still down; moving its held deliveries to a retry tier", metadata: [
                        "delivery.channel": "\(channel.rawValue)", "delivery.held": "\(pending.count)", "error": "\(down)",
                        "retry.in": "\(tier) s",
                    ])
                    settled += pending.map { deferred($0.0, $0.1, failure: down, tier: tier, provider: chain[0].name) }
                    pending = []
                    break
                }
                let wait = Swift.min(5, Swift.max(0.05, (health.reopensAt(chain) ?? 0) - Date().timeIntervalSince1970))
                logger.error("provider is down; holding its deliveries", metadata: [
                    "delivery.channel": "\(channel.rawValue)", "delivery.held": "\(pending.count)", "error": "\(down)",
                    "retry.in": "\(wait) s",
                ])
                try? await Task.sleep(for: .seconds(wait))
                continue
            }
            var roundSize = Swift.min(calls, pending.count)
            if let limit = provider.rateLimit {
                let limits = providerLimits(limit, provider: provider.name, lane: lane)
                roundSize = Swift.min(limits.map(\.limit.burst).min() ?? 1, roundSize)
                switch await pace(limits.map { RateLimitStore.Request(key: $0.key, count: roundSize, limit: $0.limit) },
                                  provider: provider.name, lane: lane, heldFor: .now - claimedAt) {
                case .go(let waited):
                    guard waited else { break }
                    let (go, cancelled) = await droppingCancelled(Array(pending.prefix(roundSize)), provider: provider.name)
                    guard !cancelled.isEmpty else { break }
                    settled += cancelled
                    pending = go[...] + pending.dropFirst(roundSize)
                    roundSize = go.count
                    if go.isEmpty { continue }
                case .defer(let wait, let tier):
                    settled += pending.map { deferred($0.0, $0.1, failure: .paced(provider.name, wait: wait), tier: tier, provider: provider.name) }
                    pending = []
                    continue
                case .stop:
                    break rounds
                }
            }
            let round = pending.prefix(roundSize)
            pending = pending.dropFirst(roundSize)
            let started = ContinuousClock.now
            let results = await provider.send(round.map(\.1))
            metrics.sent(round.count, channel: channel, provider: provider.name, took: .now - started)
            switch health.record(provider.name, results) {
            case .opened(let seconds):
                logger.error("provider breaker opened; failing over or holding", metadata: [
                    "delivery.channel": "\(channel.rawValue)", "provider": "\(provider.name)", "breaker.open": "\(seconds) s",
                ])
            case .closed:
                logger.info("provider breaker closed", metadata: ["delivery.channel": "\(channel.rawValue)", "provider": "\(provider.name)"])
            case nil: break
            }
            var held: [(AMQPDelivery, ClaimedDelivery)] = []
            var throttled: [(AMQPDelivery, ClaimedDelivery)] = []
            var throttle: Double?
            var down: DeliveryFailure?
            for ((delivery, claimed), result) in zip(round, results) {
                let id = claimed.job.deliveryID
                switch result {
                case .sent(let providerID):
                    settled.append(Settled(delivery: delivery, provider: provider.name, transition: DeliveryTransition(
                        deliveryID: id, status: .sent, attempt: claimed.attempt, providerMessageID: providerID,
                        address: claimed.address)))
                case .failed(let failure):
                    switch settings.retry.next(after: failure, attempt: claimed.attempt, lane: lane, retries: claimed.job.retries) {
                    case .holdProvider:
                        held.append((delivery, claimed))
                        down = failure
                    case .throttled(let seconds):
                        throttled.append((delivery, claimed))
                        throttle = Swift.max(throttle ?? 0, seconds)
                    case .retry(let delay):
                        settled.append(Settled(
                            delivery: delivery, provider: provider.name,
                            transition: DeliveryTransition(deliveryID: id, status: .failed, attempt: claimed.attempt, failure: failure),
                            retry: retryCopy(delivery, attempt: claimed.attempt, failure: failure, delay: delay)))
                    case .dead:
                        settled.append(dead(delivery, claimed, failure: failure, channel: channel, provider: provider.name))
                    }
                }
            }
            // Held and throttled deliveries go first in the next round: through the next provider while this one's
            // breaker is open, or after the provider's wait.
            pending = held[...] + throttled + pending
            metrics.deliveries(held.count, channel: channel, provider: provider.name, outcome: .held)
            metrics.deliveries(throttled.count, channel: channel, provider: provider.name, outcome: .throttled)
            if let down {
                lastDown = down
                wasDown = true
            } else if wasDown {
                logger.info("provider is back", metadata: ["delivery.channel": "\(channel.rawValue)", "provider": "\(provider.name)"])
                wasDown = false
            }
            if down == nil, let throttle {
                if let tier = await honourRetryAfter(provider: provider, for: throttle, channel: channel, lane: lane, heldFor: .now - claimedAt) {
                    settled += pending.map {
                        deferred($0.0, $0.1, failure: .paced(provider.name, wait: throttle), tier: tier, provider: provider.name)
                    }
                    pending = []
                }
            }
        }
        return (settled, Array(pending))
    }
}
