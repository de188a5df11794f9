import AMQP
import Foundation
import Logging
import NotifyCore
import NotifyStore
import Postgres
import Providers
import ServiceLifecycle

/// Takes delivery jobs from the lanes and makes them: claim (the recipient's current address, the attempt
/// number), send through the channel's provider, then — in this order, so a crash can only repeat work, never
/// lose it — publish retry and dead-letter copies with confirms, record every transition, ack the jobs.
///
/// - Lanes: one consumer per lane on the worker's own connection, each with its own prefetch; `workers` batches
///   are in flight at once, each from one lane (`LaneBuffer`), high first; `highLaneWorkers` more take only the
///   high lane, so an urgent job never waits for a batch of bulk mail to finish.
/// - Retries: a transient failure goes to the tier of its attempt (`RetryPolicy`), a queue whose TTL sends it
///   back to its lane; a permanent one, or the last attempt, is `dead` and parked with its reason.
/// - A provider-wide failure (unreachable, TLS or AUTH refused) spends no attempt: the worker holds the batch and
///   tries again with backoff, taking nothing else meanwhile, and logs the provider down and back up.
/// - Hand-backs: whatever goes back to the broker unrecorded is released (`DeliveryStore.release`); a claim left
///   behind anyway is found by the `ClaimSweeper`.
struct DeliveryWorker: Service {
    let connection: AMQPConnection
    let database: PGPool
    /// By channel, in failover order.
    let providers: [NotificationChannel: [any DeliveryProvider]]
    let parker: DeadLetterParker
    let names: ContractNames
    let settings: DeliverySettings
    /// Shared with readiness and the metrics sampler, which read the lanes' ages from it.
    let lanes: LaneBuffer
    let health: ProviderHealth
    let metrics: DaemonMetrics
    /// Wakes the outbox relay when a claim or record queued a fallback delivery's job.
    let outboxCommitted: @Sendable () -> Void
    let logger: Logger

    static let part = "delivery"

    func run() async throws {
        var consumers: [AMQPConsumer] = []
        for lane in NotificationPriority.allCases {
            consumers.append(
                try await connection.consume(
                    queue: names.laneQueue(lane), prefetch: UInt16(settings.prefetch(lane))
                ) { lanes.put($0, lane: lane) })
        }
        let attached = consumers
        await withGracefulShutdownHandler {
            // Cancelled (the group gave up on draining): the workers waiting for jobs must end too.
            await withTaskCancellationHandler {
                await work()
            } onCancel: {
                lanes.close()
            }
        } onGracefulShutdown: {
            // Stop new deliveries, finish what was received, then let the workers end.
            Task {
                for consumer in attached { try? await connection.cancel(consumer) }
                lanes.close()
            }
        }
        for provider in providers.values.joined() { await provider.shutdown() }
    }

    /// The workers, until the buffer is closed and empty.
    private func work() async {
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<settings.workers + settings.highLaneWorkers {
                group.addTask {
                    let highOnly = index >= settings.workers
                    while let batch = await lanes.take(max: settings.batchSize, highOnly: highOnly) {
                        await process(batch.deliveries, lane: batch.lane)
                        lanes.done(batch)
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
            logger.error(
                "parked malformed delivery jobs", metadata: ["delivery.lane": "\(lane)", "parked": "\(malformed.count - unparked.count)"])
        }
        for channel in Set(jobs.map(\.1.channel)) {
            let handled = await deliver(jobs.filter { $0.1.channel == channel }, channel: channel, lane: lane)
            done += handled.done
            requeue += handled.requeue
        }
        connection.settle(.individually(acking: done, requeueing: requeue))
    }

    /// The deliveries to ack, and those to hand back to the broker.
    struct Handled {
        var done: [AMQPDelivery] = []
        var requeue: [AMQPDelivery] = []

        static func += (handled: inout Handled, more: Handled) {
            handled.done += more.done
            handled.requeue += more.requeue
        }
    }

    /// The jobs of one channel, as a `DeliveryRound` decides: claimed, paced per recipient, sent route by route,
    /// settled. Those claimed and not tried are released before they are handed back, so the claim of their next
    /// copy takes them.
    private func deliver(_ jobs: [(AMQPDelivery, DeliveryJob)], channel: NotificationChannel, lane: NotificationPriority) async -> Handled {
        let batch = jobs.map(\.0)
        guard let claims = await claim(jobs.map(\.1)) else { return Handled(requeue: batch) }
        let claimedAt = ContinuousClock.now
        var round = DeliveryRound(claims: claims, channel: channel, lane: lane, policy: settings.round, newID: RandomID.uuid)
        var handled = Handled(done: round.finished.map { batch[$0] })
        if let limit = settings.recipientLimit(lane), await !paceRecipients(&round, limit: limit) {
            await release(round.sending, why: Self.notSent)
            return Handled(done: handled.done, requeue: round.sending.map { batch[$0.index] })
        }
        let chain = providers[channel] ?? []
        let routes = round.routes(platforms: chain.map(\.platform)).map { route in
            (
                calls: round.route(route, providers: route.providers.map { chain[$0].name }), chain: route.providers.map { chain[$0] },
                jobs: route.jobs
            )
        }
        guard routes.count > 1 else {
            let leg = await send(routes[0].calls, through: routes[0].chain, claimedAt: claimedAt)
            handled += await finish(
                DeliveryRound.Leg(outcomes: round.outcomes + leg.outcomes, unsent: leg.unsent), of: batch, channel: channel)
            return handled
        }
        handled += await finish(DeliveryRound.Leg(outcomes: round.outcomes, unsent: []), of: batch, channel: channel)
        // Every route at once, each recorded as soon as it is done, so one platform's provider being held (its
        // breaker open) neither holds nor leaves unrecorded the other platform's pushes; a delivery on several
        // routes is recorded once all of them are done, as their outcomes merged.
        let shared = DeliveryRound.shared(routes.map(\.jobs))
        let legs = await withTaskGroup(of: (index: Int, handled: Handled, shared: DeliveryRound.Leg).self) { group in
            for (index, route) in routes.enumerated() {
                group.addTask {
                    let (own, shared) = await send(route.calls, through: route.chain, claimedAt: claimedAt).split(shared: shared)
                    return (index, await finish(own, of: batch, channel: channel), shared)
                }
            }
            // In route order, so a merge between equal outcomes always keeps the same one.
            return await group.reduce(into: []) { $0.append($1) }.sorted { $0.index < $1.index }
        }
        for leg in legs { handled += leg.handled }
        handled += await finish(DeliveryRound.merge(legs.map(\.shared)), of: batch, channel: channel)
        return handled
    }

    /// Claims the jobs (`DeliveryStore.claim`, planned by a `ClaimPlanner`); nil when the database cannot be asked
    /// (after a second's pause, so a database that is down is not asked in a busy loop): the jobs go back to the broker.
    private func claim(_ jobs: [DeliveryJob]) async -> [ClaimedDelivery?]? {
        let planner = ClaimPlanner(workExchange: names.workExchange, newID: RandomID.uuid)
        do {
            let claims = try await DeliveryStore.claim(jobs, planning: { planner.plan($0, found: $1, now: Date()) }, on: database)
            // A delivery found without an address got its rule's fallback in the same transaction.
            if zip(jobs, claims).contains(where: { $1 == .skipped && $0.fallback != nil }) { outboxCommitted() }
            return claims.map { if case .send(let claimed) = $0 { claimed } else { nil } }
        } catch {
            logger.error("cannot claim deliveries; handing them back", metadata: ["error": "\(error)"])
            try? await Task.sleep(for: .seconds(1))
            return nil
        }
    }
}
