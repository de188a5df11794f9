import AMQP
import Logging
import NotifyCore
import Postgres
import ServiceLifecycle

/// Consumes `notifications.events` with an exactly-once effect: validate, store the good events of a batch in one
/// transaction (inbox rows + notifications), park the bad ones (confirmed by the broker), then ack the batch with
/// `multiple`.
///
/// A batch is everything that arrived while the previous one was being committed (at most half of `prefetch`),
/// so the commit cost is shared when load is high and latency stays low when it is not. A crash anywhere before the
/// ack makes the broker redeliver; the inbox rows make the redelivery a no-op.
struct EventIngestion: Service {
    let consuming: AMQPConnection
    let parker: DeadLetterParker
    let store: NotificationStore
    let notifier: Notifier
    let input: JSONInput
    let queue: String
    let prefetch: Int
    let logger: Logger

    func run() async throws {
        let consumer = try await consuming.consumeBatches(queue: queue, prefetch: UInt16(prefetch))
        let consuming = consuming
        // Batches are at most half the prefetch window, so one can fill while the previous one commits.
        let batchLimit = max(1, prefetch / 2)
        await withShutdownAction({ try? await consuming.cancel(consumer) }) {
            await withTaskGroup(of: Void.self) { group in
                var committing = false
                while let batch = await consumer.next(max: batchLimit) {
                    let prepared = prepare(batch)
                    // One commit at a time keeps the acks in delivery order; preparing overlaps it.
                    if committing { await group.next() }
                    group.addTask { await commit(prepared) }
                    committing = true
                }
            }
        }
    }

    /// A batch split into what will be stored and what will be parked.
    struct Prepared: Sendable {
        var batch: [AMQPDelivery]
        var accepted: [(delivery: AMQPDelivery, effect: NotificationStore.Effect)]
        var rejected: [(delivery: AMQPDelivery, rejection: Rejection)]
    }

    /// Validates and renders: pure work, done while the previous batch commits.
    private func prepare(_ batch: [AMQPDelivery]) -> Prepared {
        var prepared = Prepared(batch: batch, accepted: [], rejected: [])
        for delivery in batch {
            do {
                prepared.accepted.append((delivery, try effect(of: delivery)))
            } catch {
                prepared.rejected.append((delivery, error))
            }
        }
        return prepared
    }

    /// Stores, parks, then acks (or, if parking failed, requeues) the batch.
    private func commit(_ prepared: Prepared) async {
        let batch = prepared.batch
        var rejected = prepared.rejected
        do {
            let (created, refused) = try await store(prepared.accepted)
            rejected += refused
            for (delivery, rejection) in rejected {
                logger.warning(
                    "parking an event that cannot be processed",
                    metadata: ["event.message_id": "\(delivery.properties.messageID ?? "-")",
                               "event.reason": "\(rejection.reason.rawValue)", "event.detail": "\(rejection.detail)"])
            }
            guard await parker.park(rejected) else {
                // Unparked deliveries must not be acked; committed ones are safe to redeliver (inbox).
                logger.error("could not park rejected events; requeueing the batch", metadata: ["batch.size": "\(batch.count)"])
                for delivery in lastOfEachGeneration(batch) { consuming.nack(delivery, multiple: true, requeue: true) }
                try await Task.sleep(for: .seconds(1))
                return
            }
            for delivery in lastOfEachGeneration(batch) { consuming.ack(delivery, multiple: true) }
            logger.debug("batch committed", metadata: ["batch.size": "\(batch.count)", "batch.created": "\(created)"])
        } catch is CancellationError {
            // Shutdown while the database was unavailable: nothing was acked, the broker redelivers.
            logger.info("stopped with an uncommitted batch; it will be redelivered", metadata: ["batch.size": "\(batch.count)"])
        } catch {
            logger.error("batch failed; requeueing it", metadata: ["batch.size": "\(batch.count)", "error": "\(error)"])
            for delivery in lastOfEachGeneration(batch) { consuming.nack(delivery, multiple: true, requeue: true) }
            try? await Task.sleep(for: .seconds(1))
        }
    }

    /// What one delivery means; throws the rejection it is parked with.
    /// The contract's deduplication key: `message_id`, else the payload's own id.
    private func effect(of delivery: AMQPDelivery) throws(Rejection) -> NotificationStore.Effect {
        let messageID = delivery.properties.messageID.flatMap { $0.isEmpty ? nil : $0 }
        switch EventKind(routingKey: delivery.routingKey) {
        case .paymentProcessed:
            let payment = try PaymentProcessed(try input.object(from: delivery.body))
            let key = messageID ?? payment.transactionID
            return .init(consumer: EventKind.paymentProcessed.rawValue, key: key,
                         notification: notifier.notification(for: payment, eventKey: key))
        case .inventoryAdjusted:
            let adjustment = try InventoryAdjusted(try input.object(from: delivery.body))
            return .init(consumer: EventKind.inventoryAdjusted.rawValue, key: messageID ?? adjustment.eventID,
                         adjustment: adjustment)
        case .outOfStock, nil:
            throw Rejection(.unknownRoutingKey, "routing key '\(delivery.routingKey.prefix(100))' is not handled by this service")
        }
    }

    /// Stores the batch, retrying while the database is unreachable. A batch the database refuses (a value a
    /// constraint rejects) is split: every effect is committed alone and the ones still refused are returned to
    /// be parked with `delivery-failed`, so one poison event never sinks the others.
    private func store(
        _ accepted: [(delivery: AMQPDelivery, effect: NotificationStore.Effect)]
    ) async throws -> (created: Int, refused: [(delivery: AMQPDelivery, rejection: Rejection)]) {
        do {
            return (try await storeRetrying(accepted.map(\.effect)), [])
        } catch let error as PGError where !error.isRetriable {
            logger.error("database refused a batch; storing its events one by one", metadata: ["db.error": "\(error)"])
        }
        var created = 0
        var refused: [(delivery: AMQPDelivery, rejection: Rejection)] = []
        for (delivery, effect) in accepted {
            do {
                created += try await storeRetrying([effect])
            } catch let error as PGError where !error.isRetriable {
                refused.append((delivery, Rejection(.deliveryFailed, "the database refused the event (SQLSTATE \(error.sqlState ?? "none"))")))
            }
        }
        return (created, refused)
    }

    /// Stores effects, waiting out database outages with capped backoff; throws the database's refusal, or
    /// cancellation at shutdown.
    private func storeRetrying(_ effects: [NotificationStore.Effect]) async throws -> Int {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                return try await store.store(effects)
            } catch let error as PGError where error.isRetriable {
                logger.warning("database unavailable; retrying the batch", metadata: ["db.error": "\(error)"])
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// Acking (or nacking) the last delivery of each connection generation with `multiple` settles the batch;
    /// deliveries from an earlier connection are dropped by the AMQP layer (the broker redelivers them).
    private func lastOfEachGeneration(_ batch: [AMQPDelivery]) -> [AMQPDelivery] {
        var last: [UInt64: AMQPDelivery] = [:]
        for delivery in batch { last[delivery.generation] = delivery }
        return last.values.sorted { $0.generation < $1.generation }
    }
}
