import Foundation
import NotifyCore
import Postgres

/// The archive of parked messages: filled from the dead-letter queue (`DeadLetterArchive`), listed, redriven
/// through the outbox and purged by the RPC commands.
public enum ParkedStore {
    /// Archives messages taken from the dead-letter queue, with one COPY.
    public static func archive(_ messages: [ParkedMessage], on database: PGPool) async throws {
        guard !messages.isEmpty else { return }
        try await database.withConnection { db in try insert(messages, on: db) }
    }

    /// Writes archive rows in the caller's transaction, with one COPY: the dead-letter queue's messages, or a dead
    /// delivery's parked copy that the queue refused (`DeliveryStore.record`).
    static func insert(_ messages: [ParkedMessage], on db: PGConnection) throws {
        guard !messages.isEmpty else { return }
        _ = try db.copy(
            into: "parked",
            columns: ["kind", "reason", "detail", "exchange", "routing_key", "delivery_id", "message_id", "properties", "body"],
            rows: messages.map {
                [
                    $0.kind.rawValue, $0.reason, $0.detail, $0.exchange, $0.routingKey,
                    $0.deliveryID.flatMap { UUID(uuidString: $0) }, $0.messageID, String(decoding: $0.properties.bytes, as: UTF8.self),
                    $0.body,
                ]
            })
    }

    /// A page of parked messages, oldest first: up to `limit + 1` (the extra one says there are more).
    public static func list(_ query: ListParked, on db: PGConnection) throws -> [ParkedSummary] {
        try db.query(
            """
            SELECT id, kind, reason, detail, parked_at::text, routing_key, delivery_id::text FROM parked
            WHERE (\(query.reason)::text IS NULL OR reason = \(query.reason))
              AND (\(query.kind?.rawValue)::text IS NULL OR kind = \(query.kind?.rawValue))
              AND id > \(query.after ?? 0)
            ORDER BY id LIMIT \(query.limit + 1)
            """, prepared: true
        ).map { row in
            ParkedSummary(
                id: try row.decode(0), kind: try row.decode(1), reason: try row.decode(2), detail: try row.decode(3),
                parkedAt: NotificationStore.rfc3339(try row.decode(4)), routingKey: try row.decodeIfPresent(5, as: String.self),
                deliveryID: try row.decodeIfPresent(6, as: String.self))
        }
    }

    /// Moves the selected messages (at most `ParkedSelection.maxPerRequest`) from the archive to the outbox in
    /// one transaction: events to their original exchange and routing key, deliveries to their lane with their
    /// delivery id, each `dead` delivery back to `queued` with a history entry. Nothing is published twice by a
    /// redrive (the rows leave the archive in the transaction that queues them) and nothing is lost (the relay
    /// publishes what the transaction queued). Returns how many moved and how many selected remain.
    public static func redrive(_ selection: ParkedSelection, on db: PGConnection) throws -> (redriven: Int, remaining: Int) {
        try db.transaction { db in
            let ids = try pick(selection, on: db)
            guard !ids.isEmpty else { return (0, 0) }
            let moved = try db.query(
                """
                WITH moved AS (DELETE FROM parked WHERE id = ANY(\(PGTextArray(ids.map(String.init)))::bigint[]) RETURNING *),
                     requeued AS (
                        UPDATE deliveries d SET status = 'queued', claimed_by = NULL, updated_at = now()
                        FROM moved m WHERE m.kind = 'delivery' AND d.id = m.delivery_id AND d.status = 'dead'
                        RETURNING d.id, d.attempts),
                     history AS (
                        INSERT INTO delivery_history (delivery_id, status, attempt, detail)
                        SELECT id, 'queued', attempts, 'redriven' FROM requeued),
                     queued AS (
                        INSERT INTO outbox (message_id, exchange, routing_key, type, version, correlation_id, body, properties, raw_body)
                        SELECT 'redrive.' || m.id, m.exchange, m.routing_key, coalesce(m.properties->>'type', ''),
                               coalesce(m.properties->'headers'->>'version', ''), m.properties->>'correlationId', '',
                               m.properties, m.body
                        FROM moved m ORDER BY m.id
                        RETURNING 1)
                SELECT count(*) FROM queued
                """)
            return (try moved[0].decode(0, as: Int.self), try remaining(selection, on: db))
        }
    }

    /// Deletes the selected messages (at most `ParkedSelection.maxPerRequest`); returns how many, and how many
    /// selected remain.
    public static func purge(_ selection: ParkedSelection, on db: PGConnection) throws -> (purged: Int, remaining: Int) {
        try db.transaction { db in
            let ids = try pick(selection, on: db)
            guard !ids.isEmpty else { return (0, 0) }
            let purged = try db.execute("DELETE FROM parked WHERE id = ANY(\(PGTextArray(ids.map(String.init)))::bigint[])")
            return (purged, try remaining(selection, on: db))
        }
    }

    /// The selected ids, oldest first, locked for this transaction (another redrive skips them).
    private static func pick(_ selection: ParkedSelection, on db: PGConnection) throws -> [Int64] {
        let (ids, reason) = parameters(selection)
        return try db.query(
            """
            SELECT id FROM parked
            WHERE (\(ids)::bigint[] IS NULL OR id = ANY(\(ids)::bigint[])) AND (\(reason)::text IS NULL OR reason = \(reason))
            ORDER BY id LIMIT \(ParkedSelection.maxPerRequest) FOR UPDATE SKIP LOCKED
            """
        ).map { try $0.decode(0, as: Int64.self) }
    }

    private static func remaining(_ selection: ParkedSelection, on db: PGConnection) throws -> Int {
        let (ids, reason) = parameters(selection)
        return try db.query(
            """
            SELECT count(*) FROM parked
            WHERE (\(ids)::bigint[] IS NULL OR id = ANY(\(ids)::bigint[])) AND (\(reason)::text IS NULL OR reason = \(reason))
            """)[0].decode(0, as: Int.self)
    }

    private static func parameters(_ selection: ParkedSelection) -> (ids: PGTextArray?, reason: String?) {
        switch selection {
        case .ids(let ids): (PGTextArray(ids.map(String.init)), nil)
        case .reason(let reason): (nil, reason)
        case .all: (nil, nil)
        }
    }
}
