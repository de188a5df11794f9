import AMQP
import Logging
import NotifyCore

/// Parks messages that cannot be processed on the dead-letter exchange, with the original body and properties
/// plus `x-dead-letter-reason`, `x-dead-letter-detail`, `x-original-exchange` and `x-original-routing-key`.
///
/// Copies are published `mandatory` with confirms: only a copy the broker confirmed *and* routed to a queue counts.
/// A returned copy (the dead-letter queue or its binding was deleted) makes the parker declare the contract's
/// topology again and try once more; if that fails too the caller must not ack the originals.
struct DeadLetterParker: Sendable {
    let publishing: AMQPConnection
    let exchange: String
    /// Declared again when a parked copy comes back unroutable.
    let topology: AMQPTopology
    let logger: Logger

    /// True when the broker confirmed every parked copy into a queue; only then may the originals be acked.
    func park(_ items: [(delivery: AMQPDelivery, rejection: Rejection)]) async -> Bool {
        guard !items.isEmpty else { return true }
        var copies = items.map { delivery, rejection in
            var properties = delivery.properties
            properties.persistent = true
            properties.headers["x-dead-letter-reason"] = .string(rejection.reason.rawValue)
            properties.headers["x-dead-letter-detail"] = .string(rejection.detail)
            properties.headers["x-original-exchange"] = .string(delivery.exchange)
            properties.headers["x-original-routing-key"] = .string(delivery.routingKey)
            return AMQPOutgoingMessage(
                exchange: exchange, routingKey: delivery.routingKey, body: delivery.body, properties: properties,
                mandatory: true)
        }
        for attempt in 1...2 {
            guard let outcomes = try? await publishing.publish(copies, timeout: .seconds(10)) else { return false }
            if outcomes.allSatisfy({ $0 == .confirmed }) { return true }
            guard attempt == 1, outcomes.contains(.returned) else { break }
            logger.error("parked copies came back unroutable; declaring the dead-letter queue again",
                         metadata: ["amqp.exchange": "\(exchange)"])
            do {
                try await publishing.declare(topology)
            } catch {
                logger.error("could not declare the topology again", metadata: ["amqp.error": "\(error)"])
                return false
            }
            copies = zip(copies, outcomes).filter { $0.1 != .confirmed }.map(\.0)
        }
        return false
    }
}
