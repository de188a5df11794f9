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
    let providers: [NotificationChannel: any DeliveryProvider]
    let parker: DeadLetterParker
    let names: ContractNames
    let settings: DeliverySettings
    /// Shared with readiness and the metrics sampler, which read the lanes' ages from it.
    let inbox: LaneInbox
    let health: ProviderHealth
    let metrics: DaemonMetrics
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
        for provider in providers.values { await provider.shutdown() }
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
        var transition: DeliveryTransition
        var retry: AMQPOutgoingMessage?
        var park: (Rejection, [String: AMQPFieldValue])?
    }

    /// The jobs of one channel; returns the deliveries to ack and those to hand back to the broker.
    private func deliver(
        _ jobs: [(AMQPDelivery, DeliveryJob)], channel: NotificationChannel, lane: NotificationPriority
    ) async -> (done: [AMQPDelivery], requeue: [AMQPDelivery]) {
        let claims: [DeliveryStore.Claim]
        do {
            claims = try await DeliveryStore.claim(jobs.map(\.1), on: database)
        } catch {
            logger.error("cannot claim deliveries; handing them back", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            return ([], jobs.map(\.0))
        }
        var done: [AMQPDelivery] = []
        var sending: [(AMQPDelivery, ClaimedDelivery)] = []
        for ((delivery, _), claim) in zip(jobs, claims) {
            if case .send(let claimed) = claim { sending.append((delivery, claimed)) } else { done.append(delivery) }
        }
        var settled: [Settled] = []
        var backoff = Backoff(initial: .milliseconds(500), maximum: .seconds(30))
        var wasDown = false
        let provider = providers[channel]?.name ?? "none"
        let claimedAt = ContinuousClock.now
        if let limit = settings.recipientLimit(lane) {
            guard let (go, over) = await paceRecipients(sending, channel: channel, limit: limit, lane: lane) else {
                return (done, sending.map(\.0))
            }
            sending = go
            settled += over
        }
        // Not sent yet, in order; a round takes what the rate limit lets go (everything when unlimited).
        var pending = sending[...]
        var lastDown: DeliveryFailure?
        rounds: while !pending.isEmpty {
            var roundSize = pending.count
            if let limit = providers[channel]?.rateLimit {
                let limits = providerLimits(limit, provider: provider, lane: lane)
                roundSize = Swift.min(limits.map(\.limit.burst).min() ?? 1, pending.count)
                switch await pace(limits.map { RateLimitStore.Request(key: $0.key, count: roundSize, limit: $0.limit) },
                                  provider: provider, lane: lane, heldFor: .now - claimedAt) {
                case .go: break
                case .defer(let wait, let tier):
                    settled += pending.map { deferred($0.0, $0.1, failure: .paced(provider, wait: wait), tier: tier) }
                    pending = []
                    continue
                case .stop:
                    break rounds
                }
            }
            let round = pending.prefix(roundSize)
            pending = pending.dropFirst(roundSize)
            let started = ContinuousClock.now
            let results = await send(round.map(\.1), channel: channel)
            metrics.sent(round.count, channel: channel, provider: provider, took: .now - started)
            var held: [(AMQPDelivery, ClaimedDelivery)] = []
            var throttled: [(AMQPDelivery, ClaimedDelivery)] = []
            var throttle: Double?
            var down: DeliveryFailure?
            for ((delivery, claimed), result) in zip(round, results) {
                let id = claimed.job.deliveryID
                switch result {
                case .sent(let providerID):
                    settled.append(Settled(delivery: delivery, transition: DeliveryTransition(
                        deliveryID: id, status: .sent, attempt: claimed.attempt, providerMessageID: providerID,
                        address: claimed.address)))
                case .failed(let failure):
                    switch settings.retry.next(after: failure, attempt: claimed.attempt, lane: lane) {
                    case .holdProvider:
                        held.append((delivery, claimed))
                        down = failure
                    case .throttled(let seconds):
                        throttled.append((delivery, claimed))
                        throttle = Swift.max(throttle ?? 0, seconds)
                    case .retry(let delay):
                        settled.append(Settled(
                            delivery: delivery,
                            transition: DeliveryTransition(deliveryID: id, status: .failed, attempt: claimed.attempt, failure: failure),
                            retry: retryCopy(delivery, attempt: claimed.attempt, failure: failure, delay: delay)))
                    case .dead:
                        settled.append(Settled(
                            delivery: delivery,
                            transition: DeliveryTransition(deliveryID: id, status: .dead, attempt: claimed.attempt, failure: failure),
                            park: (Rejection(.undeliverable, failure.detail), [
                                "x-delivery-id": .string(id), "x-channel": .string(channel.rawValue),
                                "x-attempts": .int(Int64(claimed.attempt)), "x-last-error-code": .string(failure.code),
                                "x-last-error-class": .string(failure.failureClass.rawValue),
                            ])))
                    }
                }
            }
            // Held and throttled deliveries go first in the next round, after the backoff or the provider's wait.
            pending = held[...] + throttled + pending
            metrics.deliveries(held.count, channel: channel, provider: provider, outcome: .held)
            metrics.deliveries(throttled.count, channel: channel, provider: provider, outcome: .throttled)
            lastDown = down
            if let throttle, down == nil {
                if let tier = await honourRetryAfter(provider: provider, for: throttle, channel: channel, lane: lane, heldFor: .now - claimedAt) {
                    settled += pending.map { deferred($0.0, $0.1, failure: .paced(provider, wait: throttle), tier: tier) }
                    pending = []
                }
                continue
            }
            guard let down else { continue }
            health.markDown(channel, because: down)
            if Task.isShuttingDownGracefully || Task.isCancelled { break }
            wasDown = true
            // Held long enough: out to a tier, so the broker's `consumer_timeout` never closes the channel on them.
            if ContinuousClock.now - claimedAt > settings.maxProviderHold,
               let tier = settings.retry.deferral(waiting: Double(settings.maxProviderHold.milliseconds) / 1000, lane: lane) {
                logger.error("provider is still down; moving its held deliveries to a retry tier", metadata: [
                    "delivery.channel": "\(channel.rawValue)", "delivery.held": "\(pending.count)", "error": "\(down)",
                    "retry.in": "\(tier) s",
                ])
                settled += pending.map { deferred($0.0, $0.1, failure: down, tier: tier) }
                pending = []
                break
            }
            let wait = backoff.next()
            logger.error("provider is down; holding its deliveries", metadata: [
                "delivery.channel": "\(channel.rawValue)", "delivery.held": "\(held.count)", "error": "\(down)",
                "retry.in": "\(wait)",
            ])
            try? await Task.sleep(for: wait)
        }
        if pending.isEmpty, lastDown == nil {
            health.markUp(channel)
            if wasDown { logger.info("provider is back", metadata: ["delivery.channel": "\(channel.rawValue)"]) }
        }
        let (recorded, handBack) = await settle(settled, channel: channel, provider: provider)
        // Held deliveries stay `sending`: a later claim takes them again without spending an attempt.
        return (done + recorded, handBack + pending.map(\.0))
    }

    private func send(_ deliveries: [ClaimedDelivery], channel: NotificationChannel) async -> [DeliveryResult] {
        guard let provider = providers[channel] else {
            let failure = DeliveryFailure(code: "no-provider", .permanent, detail: "no provider delivers on \(channel.rawValue)")
            return deliveries.map { _ in .failed(failure) }
        }
        return await provider.send(deliveries)
    }

    /// Publishes retry copies and parks dead ones, then records the transitions of everything that went out.
    /// Returns the deliveries to ack, and those to hand back: the broker did not take their copy (their
    /// transition is not recorded, so the next attempt is the same one).
    private func settle(
        _ settled: [Settled], channel: NotificationChannel, provider: String
    ) async -> (done: [AMQPDelivery], requeue: [AMQPDelivery]) {
        var refused = Set<Int>()
        let retries = settled.indices.filter { settled[$0].retry != nil }
        if !retries.isEmpty {
            let outcomes = (try? await connection.publish(retries.map { settled[$0].retry! }, timeout: .seconds(10)))
                ?? retries.map { _ in .timedOut }
            for (index, outcome) in zip(retries, outcomes) where outcome != .confirmed { refused.insert(index) }
        }
        let parks = settled.indices.filter { settled[$0].park != nil }
        if !parks.isEmpty {
            let unparked = await parker.park(parks.map { (settled[$0].delivery, settled[$0].park!.0, settled[$0].park!.1) })
            // The parker hands back the deliveries it could not park, in order (a subsequence of `parks`).
            var remaining = unparked[...]
            for index in parks where remaining.first?.deliveryTag == settled[index].delivery.deliveryTag {
                refused.insert(index)
                remaining = remaining.dropFirst()
            }
        }
        let recorded = settled.indices.filter { !refused.contains($0) }
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        // A send that happened must be recorded: try until it is, or until shutdown hands the jobs back.
        while true {
            do {
                try await DeliveryStore.record(recorded.map { settled[$0].transition }, on: database)
                break
            } catch {
                logger.error("cannot record deliveries; retrying", metadata: ["error": "\(error)"])
                if Task.isShuttingDownGracefully || Task.isCancelled { return ([], settled.map(\.delivery)) }
                try? await Task.sleep(for: backoff.next())
            }
        }
        count(recorded.map { settled[$0].transition }, channel: channel, provider: provider)
        if providers[channel]?.receipts != nil {
            // Receipts that overtook these sends (the provider called back before the record committed).
            let sent = recorded.map { settled[$0].transition }.filter { $0.status == .sent }.map(\.deliveryID)
            do {
                try await ReceiptStore.applyPending(sent, on: database)
            } catch {
                logger.error("cannot apply receipts that came before their sends were recorded", metadata: ["error": "\(error)"])
            }
        }
        return (recorded.map { settled[$0].delivery }, refused.sorted().map { settled[$0].delivery })
    }

    private func count(_ transitions: [DeliveryTransition], channel: NotificationChannel, provider: String) {
        var counts: [DaemonMetrics.Outcome: Int] = [:]
        for transition in transitions {
            switch (transition.status, transition.failure) {
            case (.sent, _): counts[.sent, default: 0] += 1
            case (.failed, let failure?) where failure.code == DeliveryFailure.pacedCode: counts[.deferred, default: 0] += 1
            case (.failed, let failure?), (.dead, let failure?):
                counts[transition.status == .dead ? .dead : .retried, default: 0] += 1
                metrics.failure(channel: channel, code: failure.code, dead: transition.status == .dead)
            default: continue
            }
        }
        for (outcome, count) in counts { metrics.deliveries(count, channel: channel, provider: provider, outcome: outcome) }
    }

    /// The job again, on the tier that waits `delay` and then routes it back to its lane.
    func retryCopy(_ delivery: AMQPDelivery, attempt: Int, failure: DeliveryFailure, delay: Int) -> AMQPOutgoingMessage {
        var properties = delivery.properties
        properties.persistent = true
        properties.headers["x-attempts"] = .int(Int64(attempt))
        properties.headers["x-last-error-code"] = .string(failure.code)
        // Its age in the lane counts from when the tier sends it back (`LaneInbox`).
        properties.timestamp = UInt64(clamping: Int(Date().timeIntervalSince1970) + delay)
        return AMQPOutgoingMessage(exchange: names.retryTier(delay), routingKey: delivery.routingKey, body: delivery.body,
                                   properties: properties, mandatory: true)
    }
}
