import AMQP
import Foundation
import Logging
import Postgres
import ServiceLifecycle

/// Publishes the outbox: events written in the same transaction as the change that caused them.
///
/// Each round leases up to `batchSize` unsent rows (`FOR UPDATE SKIP LOCKED`, then a lease time, so several daemons
/// — and the relay's own overlapping rounds — never publish the same row at once), publishes them with confirms,
/// and marks the confirmed ones sent. Rows go out in id order within a round; overlapping rounds may interleave.
/// Rows not confirmed are released and tried again, with backoff while the broker is away; a daemon that dies holding
/// a lease delays its rows by at most the lease time; rows survive restarts. Nothing is lost and, in normal
/// operation, nothing is published twice; after a crash between a confirm and its mark, or a confirm that never
/// came, a row goes out again with the same `message_id` (consumers dedupe by it).
struct OutboxRelay: Service {
    let database: PGPool
    let publishing: AMQPConnection
    let batchSize: Int
    /// How long a leased row is reserved for this daemon.
    let lease: Duration
    /// How often an idle relay looks for new rows.
    let pollInterval: Duration
    let logger: Logger

    struct Row: Sendable {
        var id: Int64
        var message: AMQPOutgoingMessage
    }

    /// Rounds in flight at once: while one waits for its confirms, the next is already leased and published.
    static let workers = 4

    func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<Self.workers { group.addTask { await work() } }
        }
    }

    private func work() async {
        var backoff = Backoff(maximum: .seconds(10))
        while !Task.isCancelledOrShuttingDown {
            do {
                let published = try await relayOnce()
                backoff = Backoff(maximum: .seconds(10))
                if published < batchSize { try? await Task.sleep(for: pollInterval) }
            } catch {
                logger.warning("outbox relay round failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// One round: lease, publish, mark. Returns how many rows were confirmed.
    func relayOnce() async throws -> Int {
        let rows = try await leaseRows()
        guard !rows.isEmpty else { return 0 }
        let outcomes = try await publishing.publish(rows.map(\.message), timeout: .seconds(10))
        let confirmed = zip(rows, outcomes).filter { $0.1 == .confirmed }.map { String($0.0.id) }
        let unconfirmed = zip(rows, outcomes).filter { $0.1 != .confirmed }.map { String($0.0.id) }
        try await database.withConnection { db in
            if !confirmed.isEmpty {
                _ = try db.execute("UPDATE outbox SET sent_at = now(), leased_until = NULL WHERE id = ANY(\(PGTextArray(confirmed))::bigint[])")
            }
            // Their outcome is unknown: release them for the next round rather than wait out the lease.
            if !unconfirmed.isEmpty {
                _ = try db.execute("UPDATE outbox SET leased_until = NULL WHERE id = ANY(\(PGTextArray(unconfirmed))::bigint[])")
            }
        }
        if !unconfirmed.isEmpty { throw OutboxError(unconfirmed: unconfirmed.count) }
        return confirmed.count
    }

    private func leaseRows() async throws -> [Row] {
        let (batchSize, leaseMilliseconds) = (batchSize, Int(lease.components.seconds * 1000))
        return try await database.withConnection { db in
            try db.query("""
                UPDATE outbox SET leased_until = now() + make_interval(secs => \(Double(leaseMilliseconds) / 1000)),
                    attempts = attempts + 1
                WHERE id IN (SELECT id FROM outbox
                             WHERE sent_at IS NULL AND (leased_until IS NULL OR leased_until < now())
                             ORDER BY id LIMIT \(batchSize) FOR UPDATE SKIP LOCKED)
                RETURNING id, message_id, exchange, routing_key, type, version, correlation_id, body,
                          extract(epoch FROM created_at)::bigint
                """, prepared: true).map { row in
                let (id, messageID, exchange, routingKey, type, version) =
                    try row.decode(Int64.self, String.self, String.self, String.self, String.self, String.self)
                var properties = AMQPProperties(
                    contentType: "application/json", headers: ["version": .string(version)], persistent: true,
                    correlationID: try row.decodeIfPresent(6, as: String.self), messageID: messageID,
                    timestamp: UInt64(try row.decode(8, as: Int64.self)), type: type)
                properties.appID = "notifyd"
                return Row(id: id, message: AMQPOutgoingMessage(
                    exchange: exchange, routingKey: routingKey, body: Array(try row.decode(7, as: String.self).utf8),
                    properties: properties))
            }.sorted { $0.id < $1.id }
        }
    }
}

struct OutboxError: Error, CustomStringConvertible {
    var unconfirmed: Int
    var description: String { "\(unconfirmed) outbox events were not confirmed by the broker" }
}
