import NotifyCore
import Postgres

/// The transactional outbox: events written with the change that caused them (`IngestionStore`), leased and
/// marked by the relay.
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
        try db.execute("""
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

    /// Reserves up to `limit` unsent rows for `lease` (`FOR UPDATE SKIP LOCKED`, so daemons and overlapping
    /// rounds never take the same row), by priority, then in id order.
    public func lease(limit: Int, lease: Duration) async throws -> [Row] {
        let seconds = Double(lease.components.seconds) + Double(lease.components.attoseconds) / 1e18
        return try await database.withConnection { db in
            try db.query("""
                UPDATE outbox SET leased_until = now() + make_interval(secs => \(seconds)), attempts = attempts + 1
                WHERE id IN (SELECT id FROM outbox
                             WHERE sent_at IS NULL AND (leased_until IS NULL OR leased_until < now())
                             ORDER BY priority, id LIMIT \(limit) FOR UPDATE SKIP LOCKED)
                RETURNING id, message_id, exchange, routing_key, type, version, correlation_id, body,
                          extract(epoch FROM created_at)::bigint, properties::text, raw_body, priority
                """, prepared: true).map { row in
                let (id, messageID, exchange, routingKey, type, version) =
                    try row.decode(Int64.self, String.self, String.self, String.self, String.self, String.self)
                return Row(
                    id: id, messageID: messageID, exchange: exchange, routingKey: routingKey, type: type,
                    version: version, correlationID: try row.decodeIfPresent(6, as: String.self),
                    body: try row.decode(7, as: String.self), createdAt: try row.decode(8, as: Int64.self),
                    properties: try row.decodeIfPresent(9, as: String.self), rawBody: try row.decodeIfPresent(10, as: [UInt8].self),
                    priority: try row.decode(11, as: Int.self))
            }.sorted { ($0.priority, $0.id) < ($1.priority, $1.id) }
        }
    }

    /// Marks confirmed rows sent and releases the others (their outcome is unknown) for the next round at once.
    public func settle(sent: [Int64], released: [Int64]) async throws {
        let (sent, released) = (sent.map(String.init), released.map(String.init))
        try await database.withConnection { db in
            if !sent.isEmpty {
                _ = try db.execute("UPDATE outbox SET sent_at = now(), leased_until = NULL WHERE id = ANY(\(PGTextArray(sent))::bigint[])")
            }
            if !released.isEmpty {
                _ = try db.execute("UPDATE outbox SET leased_until = NULL WHERE id = ANY(\(PGTextArray(released))::bigint[])")
            }
        }
    }
}
