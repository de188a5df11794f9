import NotifyCore
import Postgres

/// The transactional outbox: events written with the change that caused them (`IngestionStore`), published by
/// the relay and deleted once the broker confirmed them.
public struct OutboxStore: Sendable {
    let database: PGPool

    public init(database: PGPool) {
        self.database = database
    }

    /// One event to publish.
    public struct Row: Sendable {
        public var id: Int64
        public var messageID: String
        public var exchange: String
        public var routingKey: String
        public var type: String
        public var version: String
        public var correlationID: String?
        public var body: String
        /// Seconds since the epoch when the row was written.
        public var createdAt: Int64
        /// A redriven message's own properties (JSON) and body, which it is published with instead.
        public var properties: String?
        public var rawBody: [UInt8]?
        public var priority: Int
    }

    /// Queues events in the outbox inside the caller's transaction, in order, with one statement.
    static func enqueue(_ messages: [OutboxMessage], on db: PGConnection) throws {
        guard !messages.isEmpty else { return }
        try db.execute(
            """
            INSERT INTO outbox (message_id, exchange, routing_key, type, version, correlation_id, body, priority)
            SELECT m, x, r, t, v, c, b, p FROM unnest(\(PGTextArray(messages.map(\.messageID)))::text[],
                                              \(PGTextArray(messages.map(\.exchange)))::text[],
                                              \(PGTextArray(messages.map(\.routingKey)))::text[],
                                              \(PGTextArray(messages.map(\.type)))::text[],
                                              \(PGTextArray(messages.map(\.version)))::text[],
                                              \(PGTextArray(messages.map(\.correlationID)))::text[],
                                              \(PGTextArray(messages.map(\.body)))::text[],
                                              \(PGTextArray(messages.map { String($0.priority) }))::smallint[])
                 WITH ORDINALITY AS e(m, x, r, t, v, c, b, p, n)
            ORDER BY n
            """)
    }

    /// Holds scheduled delivery jobs until they are due (`releaseDue`); each message id is its delivery's id.
    static func schedule(_ scheduled: [ScheduledMessage], on db: PGConnection) throws {
        guard !scheduled.isEmpty else { return }
        let messages = scheduled.map(\.message)
        _ = try db.query(
            """
            INSERT INTO scheduled_jobs (delivery_id, due_at, message_id, exchange, routing_key, type, version, correlation_id, body, priority)
            SELECT m::uuid, to_timestamp(d), m, x, r, t, v, c, b, p
            FROM unnest(\(PGTextArray(messages.map(\.messageID)))::text[],
                        \(PGTextArray(scheduled.map { String($0.due.timeIntervalSince1970) }))::float8[],
                        \(PGTextArray(messages.map(\.exchange)))::text[], \(PGTextArray(messages.map(\.routingKey)))::text[],
                        \(PGTextArray(messages.map(\.type)))::text[], \(PGTextArray(messages.map(\.version)))::text[],
                        \(PGTextArray(messages.map(\.correlationID)))::text[], \(PGTextArray(messages.map(\.body)))::text[],
                        \(PGTextArray(messages.map { String($0.priority) }))::smallint[]) AS s(m, d, x, r, t, v, c, b, p)
            """, prepared: true)
    }

    /// Moves up to `limit` due scheduled jobs into the outbox, in one statement: their deliveries go from
    /// `scheduled` to `queued` (with a history entry); a job whose delivery is no longer `scheduled` (cancelled)
    /// is dropped. `SKIP LOCKED`, so daemons releasing at once take different rows. Returns the jobs queued.
    public static func releaseDue(limit: Int, on db: PGConnection) throws -> Int {
        try db.query(
            """
            WITH due AS (
                DELETE FROM scheduled_jobs WHERE delivery_id IN (
                    SELECT delivery_id FROM scheduled_jobs WHERE due_at <= now() ORDER BY due_at LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                RETURNING *),
            queued AS (
                UPDATE deliveries d SET status = 'queued', updated_at = now()
                FROM due WHERE d.id = due.delivery_id AND d.status = 'scheduled'
                RETURNING d.id),
            history AS (
                INSERT INTO delivery_history (delivery_id, status, detail) SELECT id, 'queued', 'scheduled time reached' FROM queued)
            INSERT INTO outbox (message_id, exchange, routing_key, type, version, correlation_id, body, priority)
            SELECT due.message_id, due.exchange, due.routing_key, due.type, due.version, due.correlation_id, due.body, due.priority
            FROM due JOIN queued ON queued.id = due.delivery_id
            ORDER BY due.due_at
            """, prepared: true
        ).affectedRows
    }

    /// One relay round, in one transaction: locks up to `limit` rows (`FOR UPDATE SKIP LOCKED`, so daemons and
    /// overlapping rounds never take the same row), by priority, then in id order; hands them to `publish`, which
    /// returns the ids the broker confirmed; deletes those and commits. Unconfirmed rows stay for the next round.
    /// The lock costs no new row version (a lease column did: a rewrite of every row, body and all, twice). A
    /// daemon that dies mid-round releases its rows with its connection; one that stalls longer than `hold` is
    /// cut off by the server (`idle_in_transaction_session_timeout`), which releases them too.
    /// Returns how many rows were confirmed and how many were not.
    public func relay(
        limit: Int, holdingAtMost hold: Duration, publish: ([Row]) async throws -> Set<Int64>
    ) async throws -> (confirmed: Int, unconfirmed: Int) {
        let milliseconds = max(1, hold.components.seconds * 1000 + hold.components.attoseconds / 1_000_000_000_000_000)
        return try await database.transaction(spanning: { transaction in
            let rows = try await transaction.run { db in
                _ = try db.query("SELECT set_config('idle_in_transaction_session_timeout', \(String(milliseconds)), true)")
                return try db.query(
                    """
                    SELECT id, message_id, exchange, routing_key, type, version, correlation_id, body,
                           extract(epoch FROM created_at)::bigint, properties::text, raw_body, priority
                    FROM outbox ORDER BY priority, id LIMIT \(limit) FOR UPDATE SKIP LOCKED
                    """, prepared: true
                ).map(Self.row)
            }
            guard !rows.isEmpty else { return (0, 0) }
            let confirmed = try await publish(rows).map(String.init)
            if !confirmed.isEmpty {
                _ = try await transaction.run { db in
                    try db.execute("DELETE FROM outbox WHERE id = ANY(\(PGTextArray(confirmed))::bigint[])")
                }
            }
            return (confirmed.count, rows.count - confirmed.count)
        })
    }

    private static func row(_ row: PGRow) throws -> Row {
        let (id, messageID, exchange, routingKey, type, version) =
            try row.decode(Int64.self, String.self, String.self, String.self, String.self, String.self)
        return Row(
            id: id, messageID: messageID, exchange: exchange, routingKey: routingKey, type: type,
            version: version, correlationID: try row.decodeIfPresent(6, as: String.self),
            body: try row.decode(7, as: String.self), createdAt: try row.decode(8, as: Int64.self),
            properties: try row.decodeIfPresent(9, as: String.self), rawBody: try row.decodeIfPresent(10, as: [UInt8].self),
            priority: try row.decode(11, as: Int.self))
    }
}
