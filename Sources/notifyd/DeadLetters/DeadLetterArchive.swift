import AMQP
import Logging
import NotifyCore
import NotifyStore
import Postgres
import Resilience
import ServiceLifecycle

/// Moves parked messages from the dead-letter queue into the archive (`ParkedStore`), where `ListParked`,
/// `RedriveParked` and `PurgeParked` find them: a queue can only be read from its head, an archive can be paged,
/// filtered by reason and redriven by id. Each batch is acked only after its rows committed, so a message is
/// never lost between the two; a crash in between archives it twice at worst (with two parked ids).
///
/// It consumes on a connection whose other consumers ack one by one (never with `multiple`), so no ack of
/// another consumer settles an unarchived message.
struct DeadLetterArchive: Service {
    let connection: AMQPConnection
    let database: PGPool
    let queue: String
    let logger: Logger

    func run() async throws {
        let consumer = try await connection.consume(queue: queue, prefetch: 500)
        await withShutdownAction({ try? await connection.cancel(consumer) }) {
            while let batch = await consumer.next(max: 500) {
                await archive(batch)
            }
        }
    }

    private func archive(_ batch: [AMQPDelivery]) async {
        let messages = batch.map(Self.parked)
        var backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(10))
        while true {
            do {
                try await ParkedStore.archive(messages, on: database)
                connection.settle(.individually(acking: batch))
                return
            } catch {
                logger.error("cannot archive parked messages; retrying", metadata: ["error": "\(error)", "parked": "\(batch.count)"])
                if Task.isCancelledOrShuttingDown {
                    connection.settle(.individually(acking: [], requeueing: batch))
                    return
                }
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// What the archive keeps of a parked copy: its reason headers as columns, where it came from, and its own
    /// properties without the parking headers (what redrive publishes it with).
    static func parked(_ delivery: AMQPDelivery) -> ParkedMessage {
        parked(delivery.properties, exchange: delivery.exchange, routingKey: delivery.routingKey, body: delivery.body)
    }

    /// What the archive keeps of a parked copy published (or meant to be) to `exchange` with `routingKey`.
    static func parked(_ properties: AMQPProperties, exchange parkedExchange: String, routingKey parkedKey: String, body: [UInt8])
        -> ParkedMessage
    {
        let headers = properties.headers
        func text(_ name: String) -> String? {
            if case .string(let value)? = headers[name] { value } else { nil }
        }
        // A message the broker dead-lettered (past its delivery limit) names its reason and queue in x-death.
        var reason = text("x-dead-letter-reason")
        var exchange = text("x-original-exchange")
        var routingKey = text("x-original-routing-key")
        if reason == nil, case .array(let deaths)? = headers["x-death"], case .table(let first)? = deaths.first {
            if case .string(let why)? = first["reason"] { reason = "broker-\(why)" }
            if case .string(let origin)? = first["exchange"] { exchange = origin }
            if case .array(let keys)? = first["routing-keys"], case .string(let key)? = keys.first { routingKey = key }
        }
        let deliveryID = text("x-delivery-id")
        return ParkedMessage(
            kind: deliveryID == nil ? .event : .delivery, reason: reason ?? "unknown",
            detail: text("x-dead-letter-detail") ?? "", exchange: exchange ?? parkedExchange,
            routingKey: routingKey ?? parkedKey, deliveryID: deliveryID, messageID: properties.messageID,
            properties: PropertiesJSON.encode(properties, dropping: ParkedMessage.isParkingHeader), body: body)
    }
}
