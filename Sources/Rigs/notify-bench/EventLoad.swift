import AMQP
import Foundation
import Logging
import NotifyStore
import Postgres
import StackSupport

/// Load for the daemon: events published as their producers would, and the wait until they are stored.
enum EventLoad {
    /// Publishes `bodies` with confirms, `lanes` confirm windows of 500 in flight, so that the publisher is not
    /// what is measured. Message ids are `idPrefix` + the body's index + `firstIndex`.
    static func publish(
        _ bodies: [[UInt8]], firstIndex: Int, idPrefix: String, routingKey: String, type: String, exchange: String,
        lanes: Int, publisher: AMQPConnection
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    for start in stride(from: lane * 500, to: bodies.count, by: 500 * lanes) {
                        let batch = (start..<min(start + 500, bodies.count)).map { offset in
                            AMQPOutgoingMessage(
                                exchange: exchange, routingKey: routingKey, body: bodies[offset],
                                properties: AMQPProperties(
                                    contentType: "application/json", persistent: true,
                                    messageID: "\(idPrefix)\(firstIndex + offset)", type: type))
                        }
                        let outcomes = try await publisher.publish(batch, timeout: .seconds(60))
                        guard outcomes.allSatisfy({ $0 == .confirmed }) else { throw SupportFailure("publish not confirmed") }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Waits until `count` events are in the inbox table and the queue holds nothing more.
    static func waitUntilStored(_ count: Int, publisher: AMQPConnection, queue: String, db: PGPool) async throws {
        while try await db.withConnection({ try Census.consumedEvents(on: $0) }) < count {
            try await Task.sleep(for: .milliseconds(20))
        }
        while try await publisher.queueStatus(queue).messageCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
    }
}
