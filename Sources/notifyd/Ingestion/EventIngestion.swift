import AMQP
import Foundation
import Logging
import NotifyCore
import NotifyStore
import Postgres
import Resilience
import ServiceLifecycle

/// Consumes `notifications.events` with an exactly-once effect: validate, store the good events of a batch in one
/// transaction (deduplication rows + notifications), park the bad ones (confirmed by the broker), then ack the batch with
/// `multiple`.
///
/// A batch is everything that arrived while the previous one was being committed (at most half of `prefetch`),
/// so the commit cost is shared when load is high and latency stays low when it is not. A crash anywhere before the
/// ack makes the broker redeliver; the deduplication rows make the redelivery a no-op.
///
/// Two things no input and no passing fault may do:
/// - *Stop ingestion.* Redelivered events may include the one that killed the previous process, so they are
///   processed under the `CrashJournal`: those an earlier process died holding are tried one at a time, one the
///   daemon also died on alone is parked as `poison`, and the good events that came back with it are stored.
/// - *Hold events while the database is away.* After `attemptsBeforePausing` failed attempts the consumer is
///   cancelled and everything held is handed back to the broker (nothing acked), the daemon reports itself
///   degraded, and consumption resumes once the database answers again.
struct EventIngestion: Service {
    let consuming: AMQPConnection
    let parker: DeadLetterParker
    let store: IngestionStore
    let journal: CrashJournal
    let planner: IngestionPlanner
    let decoder: EventDecoder
    let queue: String
    let prefetch: Int
    /// Bodies over `decoder.input.maxBytes` are read (to be parked whole as `too-large`) while such bodies held total
    /// at most this; past it, they are handed to the queue's dead-letter exchange unread.
    let oversizedBudget: Int
    let readiness: Readiness
    let metrics: DaemonMetrics
    let logger: Logger

    /// The readiness part this service reports.
    static let part = "ingestion"
    /// Consecutive failed attempts at the database (about 3 s of backoff) before the consumer is cancelled.
    static let attemptsBeforePausing = 5

    /// Why consuming stopped.
    enum Stop: Sendable { case shutdown, databaseUnavailable }

    func run() async throws {
        while let consumer = await attach() {
            readiness.ready(Self.part)
            guard await consume(consumer) == .databaseUnavailable else { return }
            readiness.notReady(Self.part, reason: "database unavailable; events wait on the broker")
            guard await waitForDatabase() else { return }
        }
    }

    /// Starts consuming, retrying while the broker is away; nil at shutdown.
    private func attach() async -> AMQPConsumer? {
        var backoff = Backoff()
        while !Task.isCancelledOrShuttingDown {
            do {
                return try await consuming.consume(
                    queue: queue, prefetch: UInt16(prefetch),
                    bodyLimit: AMQPBodyLimit(ordinary: decoder.input.maxBytes, oversizedBudget: oversizedBudget))
            } catch {
                logger.warning("cannot consume events yet; retrying", metadata: ["amqp.error": "\(error)"])
                try? await Task.sleep(for: backoff.next())
            }
        }
        return nil
    }

    private func consume(_ consumer: AMQPConsumer) async -> Stop {
        let consuming = consuming
        // Batches are at most half the prefetch window, so one can fill while the previous one commits.
        let batchLimit = max(1, prefetch / 2)
        return await withShutdownAction({ try? await consuming.cancel(consumer) }) {
            await withTaskGroup(of: Stop?.self) { group in
                var committing = false
                while let batch = await consumer.next(max: batchLimit) {
                    let recovering = batch.contains(where: \.redelivered)
                    let prepared = recovering ? nil : prepare(batch)
                    // One commit at a time keeps the acks in delivery order; preparing overlaps it.
                    if committing, case .databaseUnavailable? = await group.next() ?? nil {
                        return await pause(consumer, holding: batch)
                    }
                    committing = false
                    if let prepared {
                        group.addTask { await commit(prepared) }
                        committing = true
                    } else if case .databaseUnavailable? = await recover(batch) {
                        return await pause(consumer, holding: batch)
                    }
                }
                if committing, case .databaseUnavailable? = await group.next() ?? nil { return .databaseUnavailable }
                return .shutdown
            }
        }
    }

    /// A batch split into what will be stored, what will be parked, and what is too large to hold.
    struct Prepared: Sendable {
        var batch: [AMQPDelivery]
        var accepted: [(delivery: AMQPDelivery, event: ConsumedEvent)] = []
        var rejected: [(delivery: AMQPDelivery, rejection: Rejection)] = []
        /// Bodies too large to read while the oversized budget was spent: rejected without requeue, so the events
        /// queue's own dead-lettering moves the original, unread, to the dead-letter queue (`x-death`).
        var unread: [AMQPDelivery] = []
    }

    /// Validates and decides what each event asks for: pure work, done while the previous batch commits.
    private func prepare(_ batch: [AMQPDelivery]) -> Prepared {
        var prepared = Prepared(batch: batch)
        let now = Date()
        for delivery in batch {
            guard delivery.omittedBodySize == nil else {
                prepared.unread.append(delivery)
                continue
            }
            FaultInjection.crashIfRequested(by: delivery.body)
            do {
                prepared.accepted.append((delivery, try event(of: delivery, now: now)))
            } catch {
                prepared.rejected.append((delivery, error))
            }
        }
        return prepared
    }

    /// What one delivery means; throws the rejection it is parked with.
    private func event(of delivery: AMQPDelivery, now: Date) throws(Rejection) -> ConsumedEvent {
        guard !delivery.properties.undecodable.contains("message_id") else {
            throw Rejection(.invalidProperty, "property 'message_id' is not valid UTF-8")
        }
        return planner.effect(
            of: try decoder.decode(
                routingKey: delivery.routingKey, messageID: delivery.properties.messageID, body: delivery.body, now: now))
    }

    /// Processes a batch holding redeliveries under the crash journal (one statement before, one after). Runs of
    /// deliveries no earlier process died holding are committed together, in delivery order; one an earlier process
    /// died holding is tried alone, and parked as `poison` when the daemon also died on it alone.
    private func recover(_ batch: [AMQPDelivery]) async -> Stop? {
        let fingerprints = batch.map(Self.fingerprint)
        let journaled: [String: Int]
        do {
            guard let attempts = try await withDatabaseRetries({ try await journal.begin(fingerprints) }) else {
                return .databaseUnavailable
            }
            journaled = attempts
        } catch is CancellationError {
            return .shutdown
        } catch {
            logger.error("crash journal refused a batch; processing it as it is", metadata: ["error": "\(error)"])
            journaled = [:]
        }
        var run: [AMQPDelivery] = []
        for (delivery, fingerprint) in zip(batch, fingerprints) {
            guard journaled[fingerprint, default: 1] > 1 else {
                run.append(delivery)
                continue
            }
            // Acks go out in delivery order: the run before this delivery is settled first.
            if !run.isEmpty, let stop = await commit(prepare(run)) { return stop }
            run = []
            if let stop = await tryAlone(delivery, fingerprint) { return stop }
        }
        if !run.isEmpty, let stop = await commit(prepare(run)) { return stop }
        do {
            try await journal.end(fingerprints)
        } catch {
            logger.warning("could not clear crash journal entries", metadata: ["error": "\(error)"])
        }
        return nil
    }

    /// Tries one delivery an earlier process died holding, alone; parks it as `poison` when a process already died
    /// trying it alone.
    private func tryAlone(_ delivery: AMQPDelivery, _ fingerprint: String) async -> Stop? {
        let attempts: Int?
        do {
            attempts = try await withDatabaseRetries { try await journal.beginAlone(fingerprint) }
        } catch is CancellationError {
            return .shutdown
        } catch {
            logger.error("crash journal refused an entry; trying the event anyway", metadata: ["error": "\(error)"])
            attempts = 1
        }
        guard let attempts else { return .databaseUnavailable }
        guard attempts > CrashJournal.maxAloneCrashes else { return await commit(prepare([delivery])) }
        let rejection = Rejection(.poison, "the daemon stopped while processing this event alone, and in batches before")
        return await commit(Prepared(batch: [delivery], rejected: [(delivery, rejection)]))
    }

    /// Stores, parks, then acks (or, if parking failed, requeues) the batch. Nil when the batch was settled (or
    /// handed back to the broker to try again); otherwise why it could not be.
    private func commit(_ prepared: Prepared) async -> Stop? {
        let batch = prepared.batch
        do {
            guard let (created, refused) = try await store(prepared.accepted) else { return .databaseUnavailable }
            let rejected = prepared.rejected + refused
            for (delivery, rejection) in rejected {
                logger.warning(
                    "parking an event that cannot be processed",
                    metadata: [
                        "event.message_id": "\(delivery.properties.messageID?.logSafe ?? "-")",
                        "event.reason": "\(rejection.reason.rawValue)", "event.detail": "\(rejection.detail)",
                    ])
            }
            let unparked = await parker.park(rejected)
            if !unparked.isEmpty {
                // Their originals go back to the broker; everything else of the batch is done.
                logger.error("could not park rejected events; requeueing them", metadata: ["batch.unparked": "\(unparked.count)"])
            }
            for delivery in prepared.unread {
                logger.warning(
                    "an event too large to hold is dead-lettered unread by the broker",
                    metadata: [
                        "event.message_id": "\(delivery.properties.messageID?.logSafe ?? "-")",
                        "event.size": "\(delivery.omittedBodySize ?? 0)",
                    ])
            }
            consuming.settle(.accept(batch, requeueing: unparked, rejecting: prepared.unread))
            metrics.ingested(
                events: batch.count, notifications: created,
                parked: rejected.filter { rejected in !unparked.contains { $0.deliveryTag == rejected.delivery.deliveryTag } }
                    .map(\.rejection.reason) + prepared.unread.map { _ in .tooLarge })
            if !unparked.isEmpty { try await Task.sleep(for: .seconds(1)) }
            logger.debug("batch committed", metadata: ["batch.size": "\(batch.count)", "batch.created": "\(created)"])
            return nil
        } catch is CancellationError {
            // Shutdown while the database was unavailable: nothing was acked, the broker redelivers.
            logger.info("stopped with an uncommitted batch; it will be redelivered", metadata: ["batch.size": "\(batch.count)"])
            return .shutdown
        } catch {
            logger.error("batch failed; requeueing it", metadata: ["batch.size": "\(batch.count)", "error": "\(error)"])
            consuming.settle(.requeue(batch))
            try? await Task.sleep(for: .seconds(1))
            return nil
        }
    }

    /// Stores the batch; nil when the database stays unavailable. A batch the database refuses (a value a
    /// constraint rejects) is split: every effect is committed alone and the ones still refused are returned to
    /// be parked with `delivery-failed`, so one poison event never sinks the others.
    private func store(
        _ accepted: [(delivery: AMQPDelivery, event: ConsumedEvent)]
    ) async throws -> (created: Int, refused: [(delivery: AMQPDelivery, rejection: Rejection)])? {
        do {
            guard let created = try await withDatabaseRetries({ try await commit(accepted.map(\.event)) }) else {
                return nil
            }
            return (created, [])
        } catch let error as PGError where !error.isRetriable {
            logger.error("database refused a batch; storing its events one by one", metadata: ["db.error": "\(error)"])
        }
        var created = 0
        var refused: [(delivery: AMQPDelivery, rejection: Rejection)] = []
        for (delivery, event) in accepted {
            do {
                guard let count = try await withDatabaseRetries({ try await commit([event]) }) else { return nil }
                created += count
            } catch let error as PGError where !error.isRetriable {
                refused.append(
                    (delivery, Rejection(.deliveryFailed, "the database refused the event (SQLSTATE \(error.sqlState ?? "none"))")))
            }
        }
        return (created, refused)
    }

    /// Writes events in one transaction, planned by `planner` once the deduplication table says which are new.
    private func commit(_ events: [ConsumedEvent]) async throws -> Int {
        try await store.commit(events, planning: planner.plan)
    }

    /// Runs database work, waiting out passing faults (`PGError.isRetriable`) with capped backoff. Nil once
    /// `attemptsBeforePausing` attempts in a row failed. Throws the database's refusal of the data, or
    /// cancellation at shutdown.
    private func withDatabaseRetries<Value: Sendable>(_ work: () async throws -> Value) async throws -> Value? {
        var backoff = Backoff()
        for attempt in 1...Self.attemptsBeforePausing {
            do {
                return try await work()
            } catch let error as PGError where error.isRetriable {
                logger.warning("database unavailable; retrying", metadata: ["db.error": "\(error)", "db.attempt": "\(attempt)"])
                if attempt < Self.attemptsBeforePausing { try await Task.sleep(for: backoff.next()) }
            }
        }
        return nil
    }

    /// Cancels the consumer and hands every delivery it holds back to the broker (nothing is acked), so no
    /// delivery waits out the broker's `consumer_timeout` while the database is away.
    private func pause(_ consumer: AMQPConsumer, holding batch: [AMQPDelivery]) async -> Stop {
        logger.error("database unavailable; pausing event consumption until it answers again")
        // A cancel that fails with the connection is retried: without a session it just forgets the consumer.
        while (try? await consuming.cancel(consumer)) == nil { try? await Task.sleep(for: .milliseconds(100)) }
        var held = batch
        while let more = await consumer.next(max: prefetch) { held += more }
        consuming.settle(.requeue(held))
        return .databaseUnavailable
    }

    /// Waits until the database answers; false at shutdown.
    private func waitForDatabase() async -> Bool {
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(5))
        while !Task.isCancelledOrShuttingDown {
            try? await Task.sleep(for: backoff.next())
            if await store.database.answers() {
                logger.notice("the database answers again; resuming event consumption")
                return true
            }
        }
        return false
    }

    /// What identifies a message across redeliveries: hashes of its routing key, `message_id` and body, and the
    /// body's length. Two different messages sharing one would only risk being parked as poison together, never
    /// being lost.
    static func fingerprint(_ delivery: AMQPDelivery) -> String {
        func fnv1a<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            return String(hash, radix: 16)
        }
        let id = delivery.properties.messageID ?? ""
        return [fnv1a(delivery.routingKey.utf8), fnv1a(id.utf8), fnv1a(delivery.body), String(delivery.body.count)]
            .joined(separator: ":")
    }
}
