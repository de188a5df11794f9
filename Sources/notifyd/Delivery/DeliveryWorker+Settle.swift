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

    /// What a route (or the round before its routes) came to: its outcomes settled, and the jobs it did not try
    /// released before they are handed back.
    func finish(_ leg: DeliveryRound.Leg, of batch: [AMQPDelivery], channel: NotificationChannel) async -> Handled {
        var handled = await settle(leg.outcomes, of: batch, channel: channel)
        await release(leg.unsent, why: Self.notSent)
        handled.requeue += leg.unsent.map { batch[$0.index] }
        return handled
    }

    /// Publishes retry copies and parks dead ones, then records the transitions of everything that went out.
    /// Returns the deliveries to ack, and those to hand back: the broker did not take their retry copy (their
    /// transition is not recorded and their claim is released, so the next attempt is the same one), or shutdown
    /// came while the database could not record them (their claims stay, for the sweeper: they may have been sent).
    /// A parked copy the dead-letter queue does not take within `parkPatience` goes to the archive with the
    /// delivery's record instead.
    func settle(_ outcomes: [DeliveryOutcome], of batch: [AMQPDelivery], channel: NotificationChannel) async -> Handled {
        guard !outcomes.isEmpty else { return Handled() }
        let refused = await publishRetries(outcomes, of: batch)
        let archived = await park(outcomes, of: batch, channel: channel)
        let recorded = outcomes.indices.filter { !refused.contains($0) }.map { outcomes[$0] }
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5))
        // A send that happened must be recorded: try until it is, or until shutdown hands the jobs back.
        let fallbacks = recorded.compactMap { if case .park(let fallback?) = $0.followUp { fallback } else { nil } }
        while true {
            do {
                try await DeliveryStore.record(
                    recorded.map(\.transition), fallbacks: fallbacks, workExchange: names.workExchange, archived: archived, on: database)
                if !fallbacks.isEmpty { outboxCommitted() }
                break
            } catch {
                logger.error("cannot record deliveries; retrying", metadata: ["error": "\(error)"])
                if Task.isShuttingDownGracefully || Task.isCancelled { return Handled(requeue: outcomes.map { batch[$0.index] }) }
                try? await Task.sleep(for: backoff.next())
            }
        }
        count(recorded, channel: channel)
        if providers[channel]?.contains(where: { $0.receipts != nil }) == true {
            // Receipts that overtook these sends (the provider called back before the record committed).
            let sent = recorded.map(\.transition).filter { $0.status == .sent }.map(\.deliveryID)
            do {
                try await ReceiptStore.applyPending(sent, on: database)
            } catch {
                logger.error("cannot apply receipts that came before their sends were recorded", metadata: ["error": "\(error)"])
            }
        }
        // Their attempt failed and its retry copy is not in a tier: the job itself goes back, to the same attempt.
        let handBack = refused.sorted().map { outcomes[$0] }
        await release(ids: handBack.map(\.transition.deliveryID), why: "its retry copy was not confirmed")
        return Handled(done: recorded.map { batch[$0.index] }, requeue: handBack.map { batch[$0.index] })
    }

    /// Publishes the retry copies with confirms; returns the places (in `outcomes`) of those the broker did not take.
    private func publishRetries(_ outcomes: [DeliveryOutcome], of batch: [AMQPDelivery]) async -> Set<Int> {
        let retries = outcomes.indices.compactMap { index in
            if case .retry(let delay) = outcomes[index].followUp { (index, delay) } else { nil }
        }
        guard !retries.isEmpty else { return [] }
        let copies = retries.map { index, delay in
            retryCopy(batch[outcomes[index].index], transition: outcomes[index].transition, delay: delay)
        }
        let confirms = (try? await connection.publish(copies, timeout: .seconds(10))) ?? copies.map { _ in .timedOut }
        return Set(zip(retries, confirms).filter { $0.1 != .confirmed }.map(\.0.0))
    }

    /// Parks the copies of dead deliveries; returns those the dead-letter queue did not take, for the archive.
    private func park(_ outcomes: [DeliveryOutcome], of batch: [AMQPDelivery], channel: NotificationChannel) async -> [ParkedMessage] {
        let items = outcomes.compactMap { outcome -> (AMQPDelivery, Rejection, [String: AMQPFieldValue])? in
            guard case .park = outcome.followUp, let failure = outcome.transition.failure else { return nil }
            let transition = outcome.transition
            return (
                batch[outcome.index], Rejection(.undeliverable, failure.detail),
                [
                    "x-delivery-id": .string(transition.deliveryID), "x-channel": .string(channel.rawValue),
                    "x-attempts": .int(Int64(transition.attempt)), "x-last-error-code": .string(failure.code),
                    "x-last-error-class": .string(failure.failureClass.rawValue),
                ]
            )
        }
        guard !items.isEmpty else { return [] }
        let unparked = Set(await parker.park(items, patience: Self.parkPatience).map(\.deliveryTag))
        let archived = items.filter { unparked.contains($0.0.deliveryTag) }.map { delivery, rejection, headers in
            let copy = parker.copy(of: delivery, rejection: rejection, headers: headers)
            return DeadLetterArchive.parked(copy.properties, exchange: copy.exchange, routingKey: copy.routingKey, body: copy.body)
        }
        if !archived.isEmpty {
            logger.error(
                "the dead-letter queue did not take parked deliveries; archiving them with their record",
                metadata: ["delivery.channel": "\(channel.rawValue)", "park.archived": "\(archived.count)"])
        }
        return archived
    }

    /// Why a claimed delivery goes back unsent: a shutdown came while it was held (its provider down, or the
    /// database unable to pace it).
    static let notSent = "not sent before shutdown"

    /// Releases the claims of jobs handed back untried, so the claim of their job's next copy takes them.
    func release(_ untried: [RoundJob], why: String) async {
        await release(ids: untried.map(\.claimed.job.deliveryID), why: why)
    }

    /// One the database does not release now stays `sending` until the sweeper finds it (`ClaimSweep`).
    private func release(ids: [String], why: String) async {
        guard !ids.isEmpty else { return }
        do {
            try await DeliveryStore.release(ids, reason: why, on: database)
        } catch {
            logger.error(
                "cannot release handed-back deliveries; the sweeper will", metadata: ["error": "\(error)", "delivery.held": "\(ids.count)"])
        }
    }

    private func count(_ outcomes: [DeliveryOutcome], channel: NotificationChannel) {
        var counts: [String: [DaemonMetrics.Outcome: Int]] = [:]
        for outcome in outcomes {
            guard let tally = outcome.tally else { continue }
            counts[outcome.provider, default: [:]][DaemonMetrics.Outcome(tally), default: 0] += 1
            if tally == .retried || tally == .dead, let failure = outcome.transition.failure {
                metrics.failure(channel: channel, code: failure.code, dead: tally == .dead)
            }
        }
        for (provider, outcomes) in counts {
            for (outcome, count) in outcomes { metrics.deliveries(count, channel: channel, provider: provider, outcome: outcome) }
        }
    }

    /// The job again, on the tier that waits `delay` and then routes it back to its lane.
    private func retryCopy(_ delivery: AMQPDelivery, transition: DeliveryTransition, delay: Int) -> AMQPOutgoingMessage {
        var properties = delivery.properties
        properties.persistent = true
        properties.headers["x-attempts"] = .int(Int64(transition.attempt))
        properties.headers["x-last-error-code"] = .string(transition.failure?.code ?? "")
        // Its age in the lane counts from when the tier sends it back (`LaneBuffer`).
        properties.timestamp = UInt64(clamping: Int(Date().timeIntervalSince1970) + delay)
        return AMQPOutgoingMessage(
            exchange: names.retryTier(delay), routingKey: delivery.routingKey, body: delivery.body,
            properties: properties, mandatory: true)
    }
}
