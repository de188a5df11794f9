import AMQP
import NotifyCore

/// Parks messages that cannot be processed on the dead-letter exchange, with the original body and properties
/// plus `x-dead-letter-reason`, `x-dead-letter-detail`, `x-original-exchange` and `x-original-routing-key`.
struct DeadLetterParker: Sendable {
    let publishing: AMQPConnection
    let exchange: String

    /// True when the broker confirmed every parked copy; only then may the originals be acked.
    func park(_ items: [(delivery: AMQPDelivery, rejection: Rejection)]) async -> Bool {
        guard !items.isEmpty else { return true }
        let copies = items.map { delivery, rejection in
            var properties = delivery.properties
            properties.persistent = true
            properties.headers["x-dead-letter-reason"] = .string(rejection.reason.rawValue)
            properties.headers["x-dead-letter-detail"] = .string(rejection.detail)
            properties.headers["x-original-exchange"] = .string(delivery.exchange)
            properties.headers["x-original-routing-key"] = .string(delivery.routingKey)
            return AMQPOutgoingMessage(
                exchange: exchange, routingKey: delivery.routingKey, body: delivery.body, properties: properties)
        }
        guard let outcomes = try? await publishing.publish(copies, timeout: .seconds(10)) else { return false }
        return outcomes.allSatisfy { $0 == .confirmed }
    }
}
