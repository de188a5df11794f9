import AMQP
import Foundation
import NotifyCore
import NotifyStore
import Resilience

/// The end of a batch: the copies published first (retry tiers, the dead-letter queue), then the transitions
/// recorded, then what is handed back released, so nothing the worker gives up on stays `sending`.
extension DeliveryWorker {
    /// How long a dead delivery's parked copy is offered to a dead-letter queue that refuses it (full, with
    /// `reject-publish`) before it goes to the archive directly, with its record.
    static let parkPatience: Duration = .seconds(10)

    /// A delivery that ends here: parked with its reason, for redrive.
    func dead(
        _ delivery: AMQPDelivery, _ claimed: ClaimedDelivery, failure: DeliveryFailure, channel: NotificationChannel, provider: String
    ) -> Settled {
        let id = claimed.job.deliveryID
        return Settled(
            delivery: delivery, provider: provider,
            transition: DeliveryTransition(deliveryID: id, status: .dead, attempt: claimed.attempt, failure: failure),
            park: (Rejection(.undeliverable, failure.detail), [
                "x-delivery-id": .string(id), "x-channel": .string(channel.rawValue),
                "x-attempts": .int(Int64(claimed.attempt)), "x-last-error-code": .string(failure.code),
                "x-last-error-class": .string(failure.failureClass.rawValue),
            ]),
            fallback: claimed.job.fallbackJob(id: RandomID.uuid()))
    }

    /// Publishes retry copies and parks dead ones, then records the transitions of everything that went out.
    /// Returns the deliveries to ack, and those to hand back: the broker did not take their retry copy (their
    /// transition is not recorded and their claim is released, so the next attempt is the same one), or shutdown
    /// came while the database could not record them (their claims stay, for the sweeper: they may have been sent).
    /// A parked copy the dead-letter queue does not take within `parkPatience` goes to the archive with the
    /// delivery's record instead.
    func settle(
        _ settled: [Settled], channel: NotificationChannel
    ) async -> (done: [AMQPDelivery], requeue: [AMQPDelivery]) {
        guard !settled.isEmpty else { return ([], []) }
        var refused = Set<Int>()
        let retries = settled.indices.filter { settled[$0].retry != nil }
        if !retries.isEmpty {
            let outcomes = (try? await connection.publish(retries.map { settled[$0].retry! }, timeout: .seconds(10)))
                ?? retries.map { _ in .timedOut }
            for (index, outcome) in zip(retries, outcomes) where outcome != .confirmed { refused.insert(index) }
        }
        var archived: [ParkedMessage] = []
        let parks = settled.indices.filter { settled[$0].park != nil }
        if !parks.isEmpty {
            let items = parks.map { (settled[$0].delivery, settled[$0].park!.0, settled[$0].park!.1) }
            let unparked = Set(await parker.park(items, patience: Self.parkPatience).map(\.deliveryTag))
            for (delivery, rejection, headers) in items where unparked.contains(delivery.deliveryTag) {
                let copy = parker.copy(of: delivery, rejection: rejection, headers: headers)
                archived.append(DeadLetterArchive.parked(copy.properties, exchange: copy.exchange, routingKey: copy.routingKey, body: copy.body))
            }
            if !archived.isEmpty {
                logger.error("the dead-letter queue did not take parked deliveries; archiving them with their record",
                             metadata: ["delivery.channel": "\(channel.rawValue)", "park.archived": "\(archived.count)"])
            }
        }
        let recorded = settled.indices.filter { !refused.contains($0) }
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        // A send that happened must be recorded: try until it is, or until shutdown hands the jobs back.
        let fallbacks = recorded.compactMap { settled[$0].fallback }
        while true {
            do {
                try await DeliveryStore.record(
                    recorded.map { settled[$0].transition }, fallbacks: fallbacks, workExchange: names.workExchange, archived: archived,
                    on: database)
                if !fallbacks.isEmpty { outboxCommitted() }
                break
            } catch {
                logger.error("cannot record deliveries; retrying", metadata: ["error": "\(error)"])
                if Task.isShuttingDownGracefully || Task.isCancelled { return ([], settled.map(\.delivery)) }
                try? await Task.sleep(for: backoff.next())
            }
        }
        count(recorded.map { settled[$0] }, channel: channel)
        if providers[channel]?.contains(where: { $0.receipts != nil }) == true {
            // Receipts that overtook these sends (the provider called back before the record committed).
            let sent = recorded.map { settled[$0].transition }.filter { $0.status == .sent }.map(\.deliveryID)
            do {
                try await ReceiptStore.applyPending(sent, on: database)
            } catch {
                logger.error("cannot apply receipts that came before their sends were recorded", metadata: ["error": "\(error)"])
            }
        }
        // Their attempt failed and its retry copy is not in a tier: the job itself goes back, to the same attempt.
        await release(ids: refused.sorted().map { settled[$0].transition.deliveryID }, why: "its retry copy was not confirmed")
        return (recorded.map { settled[$0].delivery }, refused.sorted().map { settled[$0].delivery })
    }

    /// Why a claimed delivery goes back unsent: a shutdown came while it was held (its provider down, or the
    /// database unable to pace it).
    static let notSent = "not sent before shutdown"

    /// Releases the claims of deliveries handed back untried, so the claim of their job's next copy takes them.
    func release(_ untried: [(AMQPDelivery, ClaimedDelivery)], why: String) async {
        await release(ids: untried.map(\.1.job.deliveryID), why: why)
    }

    /// One the database does not release now stays `sending` until the sweeper finds it (`ClaimSweep`).
    private func release(ids: [String], why: String) async {
        guard !ids.isEmpty else { return }
        do {
            try await DeliveryStore.release(ids, reason: why, on: database)
        } catch {
            logger.error("cannot release handed-back deliveries; the sweeper will", metadata: ["error": "\(error)", "delivery.held": "\(ids.count)"])
        }
    }

    private func count(_ settled: [Settled], channel: NotificationChannel) {
        var counts: [String: [DaemonMetrics.Outcome: Int]] = [:]
        for entry in settled {
            let transition = entry.transition
            switch (transition.status, transition.failure) {
            case (.sent, _): counts[entry.provider, default: [:]][.sent, default: 0] += 1
            case (.failed, let failure?) where failure.code == DeliveryFailure.pacedCode:
                counts[entry.provider, default: [:]][.deferred, default: 0] += 1
            case (.failed, let failure?), (.dead, let failure?):
                counts[entry.provider, default: [:]][transition.status == .dead ? .dead : .retried, default: 0] += 1
                metrics.failure(channel: channel, code: failure.code, dead: transition.status == .dead)
            default: continue
            }
        }
        for (provider, outcomes) in counts {
            for (outcome, count) in outcomes { metrics.deliveries(count, channel: channel, provider: provider, outcome: outcome) }
        }
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
