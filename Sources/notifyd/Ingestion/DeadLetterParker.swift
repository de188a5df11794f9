import AMQP
import Logging
import NotifyCore
import Resilience

/// Parks messages that cannot be processed on the dead-letter exchange, with the original body and properties
/// plus `x-dead-letter-reason`, `x-dead-letter-detail`, `x-original-exchange` and `x-original-routing-key`.
///
/// Copies are published `mandatory` with confirms: only a copy the broker confirmed *and* routed to a queue counts.
/// The parker is patient, because handing an original back to the broker raises its delivery count, and a quorum
/// queue dead-letters (at most once) a message past its delivery limit: a returned copy (the dead-letter queue or
/// its binding was deleted) makes it declare the topology again and retry; a nacked copy (a full dead-letter
/// queue with `reject-publish`) is retried with backoff; during a broker alarm it waits for the confirm. Only
/// after `patience`, or at shutdown, does it give up on what is still not confirmed: those originals go back to
/// the broker. Nacked and returned copies were not enqueued, so retrying them never parks one twice.
struct DeadLetterParker: Sendable {
    let publishing: AMQPConnection
    let exchange: String
    /// Declared again when a parked copy comes back unroutable.
    let topology: AMQPTopology
    let logger: Logger
    /// How long one park may keep trying; well below the broker's `consumer_timeout` (30 min). Default 5 min.
    var patience: Duration = .seconds(300)

    /// Parks every item; returns the deliveries whose copy the broker did not confirm into a queue (empty when
    /// all were parked). Only parked originals may be acked; the others must go back to the broker.
    func park(_ items: [(delivery: AMQPDelivery, rejection: Rejection)]) async -> [AMQPDelivery] {
        await park(items.map { ($0.delivery, $0.rejection, [:]) })
    }

    /// Parks every item with `headers` added to its copy (what a parked delivery says about itself); gives up after
    /// `patience` (the parker's own when nil).
    func park(
        _ items: [(delivery: AMQPDelivery, rejection: Rejection, headers: [String: AMQPFieldValue])], patience: Duration? = nil
    ) async -> [AMQPDelivery] {
        var pending = items.map { ($0.delivery, copy(of: $0.delivery, rejection: $0.rejection, headers: $0.headers)) }
        let deadline = ContinuousClock.now + (patience ?? self.patience)
        var backoff = Backoff(initial: .seconds(1), maximum: .seconds(10))
        // Tried at least once, even while shutting down (a drain still parks what it can); retried only until then.
        while !pending.isEmpty {
            let remaining = deadline - .now
            guard remaining > .zero,
                let outcomes = try? await publishing.publish(pending.map(\.1), timeout: remaining)
            else { break }
            let (returned, timedOut) = (outcomes.contains(.returned), outcomes.contains(.timedOut))
            pending = zip(pending, outcomes).filter { $0.1 != .confirmed }.map(\.0)
            // Unknown outcomes are not retried: the copy may have been enqueued.
            guard !pending.isEmpty, !timedOut, !Task.isCancelledOrShuttingDown else { break }
            if returned {
                logger.error(
                    "parked copies came back unroutable; declaring the dead-letter queue again",
                    metadata: ["amqp.exchange": "\(exchange)"])
                do {
                    try await publishing.declare(topology)
                } catch {
                    logger.error("could not declare the topology again", metadata: ["amqp.error": "\(error)"])
                }
            } else {
                logger.error(
                    "the dead-letter queue refused parked copies; retrying",
                    metadata: ["amqp.exchange": "\(exchange)", "park.refused": "\(pending.count)"])
            }
            try? await Task.sleep(for: min(backoff.next(), max(.zero, deadline - .now)))
        }
        return pending.map(\.0)
    }

    /// The parked copy of `delivery`: its body and properties, `headers` added, with why and where from.
    func copy(of delivery: AMQPDelivery, rejection: Rejection, headers: [String: AMQPFieldValue]) -> AMQPOutgoingMessage {
        var properties = delivery.properties
        properties.headers.merge(headers) { _, new in new }
        properties.persistent = true
        properties.headers["x-dead-letter-reason"] = .string(rejection.reason.rawValue)
        properties.headers["x-dead-letter-detail"] = .string(rejection.detail)
        properties.headers["x-original-exchange"] = .string(delivery.exchange)
        properties.headers["x-original-routing-key"] = .string(delivery.routingKey)
        return AMQPOutgoingMessage(
            exchange: exchange, routingKey: delivery.routingKey, body: delivery.body, properties: properties, mandatory: true)
    }
}
