import AMQP
import Foundation
import Logging
import NotifyCore
import NotifyStore
import Resilience
import ServiceLifecycle

/// Publishes the outbox: events written in the same transaction as the change that caused them.
///
/// Each round locks up to `batchSize` rows in a transaction (`FOR UPDATE SKIP LOCKED`, so several daemons — and the
/// relay's own overlapping rounds — never publish the same row at once), publishes them with confirms, and deletes
/// the confirmed ones in the same transaction. Rows go out by priority (high-lane delivery jobs first, low-lane
/// ones last), then in id order, within a round; overlapping rounds may interleave.
/// Rows not confirmed stay and are tried again, with backoff while the broker is away; a daemon that dies mid-round
/// releases its rows with its connection, and one that stalls is cut off after `lease`; rows survive restarts.
/// Nothing is lost and, in normal operation, nothing is published twice; after a crash between a confirm and the
/// commit, or a confirm that never came, a row goes out again with the same `message_id` (consumers dedupe by it).
struct OutboxRelay: Service {
    let outbox: OutboxStore
    let publishing: AMQPConnection
    let batchSize: Int
    /// Rounds in flight at once: while one waits for its confirms, the next has already locked and published its
    /// rows. Each takes one connection of the outbox pool.
    let workers: Int
    /// How long one round may hold its rows before the server ends its session and releases them. A round waits
    /// two thirds of it for the broker's confirms: long enough to ride out a broker restart (a confirm that came
    /// after the wait would leave the outcome unknown and the row published again), short enough to commit in time.
    let lease: Duration
    /// How often an idle relay looks for new rows (those other daemons commit: this one's ring the doorbell).
    let pollInterval: Duration
    let doorbell: OutboxDoorbell
    let logger: Logger

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<workers { group.addTask { await work() } }
        }
    }

    private func work() async {
        var backoff = Backoff(maximum: .seconds(10))
        while !Task.isCancelledOrShuttingDown {
            do {
                let published = try await relayOnce()
                backoff = Backoff(maximum: .seconds(10))
                if published < batchSize { await doorbell.wait(atMost: pollInterval) }
            } catch {
                logger.warning("outbox relay round failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// One round: lock, publish, delete what was confirmed. Returns how many rows were confirmed.
    func relayOnce() async throws -> Int {
        let (confirmed, unconfirmed) = try await outbox.relay(limit: batchSize, holdingAtMost: lease) { rows in
            let outcomes = try await publishing.publish(rows.map(Self.message), timeout: lease * 2 / 3)
            return Set(zip(rows, outcomes).filter { $0.1 == .confirmed }.map(\.0.id))
        }
        // Unconfirmed rows' outcome is unknown: they stay for the next round.
        if unconfirmed > 0 { throw OutboxError(unconfirmed: unconfirmed) }
        return confirmed
    }

    /// The message an outbox row stands for: persistent JSON with its `message_id`, `correlation_id`, `type`,
    /// header `version` and the time it was written; a redriven message with its own properties and body.
    static func message(_ row: OutboxStore.Row) -> AMQPOutgoingMessage {
        if let text = row.properties, var properties = PropertiesJSON.decode(text) {
            properties.persistent = true
            properties.messageID = properties.messageID ?? row.messageID
            return AMQPOutgoingMessage(
                exchange: row.exchange, routingKey: row.routingKey, body: row.rawBody ?? Array(row.body.utf8),
                properties: properties, mandatory: true)
        }
        var properties = AMQPProperties(
            contentType: "application/json", headers: ["version": .string(row.version)], persistent: true,
            correlationID: row.correlationID, messageID: row.messageID, timestamp: UInt64(clamping: row.createdAt),
            type: row.type)
        properties.appID = "notifyd"
        // A delivery job must reach its lane: one no queue takes comes back and is tried again, never dropped.
        // Events are not mandatory: an exchange nobody has bound a queue to yet is their subscribers' business.
        return AMQPOutgoingMessage(
            exchange: row.exchange, routingKey: row.routingKey, body: Array(row.body.utf8),
            properties: properties, mandatory: row.type == DeliveryJob.type)
    }
}

struct OutboxError: Error, CustomStringConvertible {
    var unconfirmed: Int
    var description: String { "\(unconfirmed) outbox events were not confirmed by the broker" }
}
