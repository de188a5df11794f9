import Foundation
import Postgres

/// What the rigs (`notify-bench`, `notify-chaos`) read of the service's tables to judge a run: counts, times and
/// sizes, read-only. The daemon never calls it; it is here so that the service's schema is read in one module and a
/// change to it breaks the rigs' build, not their figures. (The rigs still seed tables through COPY, which no store
/// offers.) A `users` or `keys` prefix is a run's tag: it selects the rows of that run alone.
public enum Census {
    /// Events recorded as consumed (the deduplication table).
    public static func consumedEvents(on db: PGConnection) throws -> Int {
        try db.query("SELECT count(*) FROM inbox")[0].decode(0, as: Int.self)
    }

    /// Outbox rows not yet published.
    public static func unrelayed(on db: PGConnection) throws -> Int {
        try db.query("SELECT count(*) FROM outbox")[0].decode(0, as: Int.self)
    }

    public static func notifications(on db: PGConnection) throws -> Int {
        try db.query("SELECT count(*) FROM notifications")[0].decode(0, as: Int.self)
    }

    public static func notifications(usersPrefixed prefix: String, on db: PGConnection) throws -> Int {
        try db.query("SELECT count(*) FROM notifications WHERE user_id LIKE \(prefix + "%")")[0].decode(0, as: Int.self)
    }

    public static func sentDeliveries(on db: PGConnection) throws -> Int {
        try db.query("SELECT count(*) FROM deliveries WHERE status = 'sent'")[0].decode(0, as: Int.self)
    }

    /// What the send API wrote: requests, their `send.accepted` audit rows, deliveries.
    public static func sends(on db: PGConnection) throws -> (requests: Int, audited: Int, deliveries: Int) {
        try db.query(
            """
            SELECT (SELECT count(*) FROM send_requests), (SELECT count(*) FROM audit_events WHERE action = 'send.accepted'),
                   (SELECT count(*) FROM deliveries)
            """)[0].decode(Int.self, Int.self, Int.self)
    }

    /// When each user's delivery was recorded sent, by user id.
    public static func sentTimes(usersPrefixed prefix: String, on db: PGConnection) throws -> [String: Date] {
        var times: [String: Date] = [:]
        for row in try db.query(
            """
            SELECT d.user_id, extract(epoch FROM h.at)::float8 FROM deliveries d
            JOIN delivery_history h ON h.delivery_id = d.id AND h.status = 'sent'
            WHERE d.user_id LIKE \(prefix + "%")
            """)
        {
            times[try row.decode(0, as: String.self)] = Date(timeIntervalSince1970: try row.decode(1, as: Double.self))
        }
        return times
    }

    /// Whether a run has settled: events with a notification, deliveries still queued, sending or waiting for a retry,
    /// and emails recorded sent.
    public static func settling(usersPrefixed prefix: String, on db: PGConnection) throws -> (events: Int, unfinished: Int, sentEmails: Int)
    {
        try db.query(
            """
            SELECT (SELECT count(DISTINCT source_event_key) FROM notifications WHERE user_id LIKE \(prefix + "%")),
                   (SELECT count(*) FROM deliveries WHERE user_id LIKE \(prefix + "%") AND status IN ('queued', 'sending', 'failed')),
                   (SELECT count(*) FROM deliveries WHERE user_id LIKE \(prefix + "%") AND channel = 'email' AND status = 'sent')
            """)[0].decode(Int.self, Int.self, Int.self)
    }

    /// Every notification of a run by its event's key, with its email delivery's id and status (nil without one).
    public static func emails(usersPrefixed prefix: String, on db: PGConnection) throws -> [(
        event: String, delivery: String?, status: String?
    )] {
        try db.query(
            """
            SELECT n.source_event_key, d.id::text, d.status FROM notifications n
            LEFT JOIN deliveries d ON d.notification_id = n.id AND d.channel = 'email'
            WHERE n.user_id LIKE \(prefix + "%")
            """
        ).map {
            (try $0.decode(0, as: String.self), try $0.decodeIfPresent(1, as: String.self), try $0.decodeIfPresent(2, as: String.self))
        }
    }

    /// Notifications stored after `since` (seconds since 1970) whose event keys are `prefix` and a number: (that
    /// number, when stored).
    public static func stored(since: Double, keysPrefixed prefix: String, on db: PGConnection) throws -> [(index: Int, at: Double)] {
        try db.query(
            """
            SELECT substr(source_event_key, \(prefix.count + 1))::int, extract(epoch FROM created_at)::float8 FROM notifications
            WHERE created_at > to_timestamp(\(since)) AND source_event_key LIKE \(prefix + "%")
            """
        ).map { (try $0.decode(0, as: Int.self), try $0.decode(1, as: Double.self)) }
    }

    /// The tables that grow with the load.
    static let growingTables = [
        "inbox", "notifications", "deliveries", "delivery_history", "audit_events", "outbox", "stock_levels", "rate_limits",
    ]

    /// Each growing table's size in bytes, with its indexes and TOAST.
    public static func tableSizes(on db: PGConnection) throws -> [(table: String, bytes: Int)] {
        try db.query(
            """
            SELECT relname::text, pg_total_relation_size(oid) FROM pg_class
            WHERE relkind = 'r' AND relname = ANY(\(PGTextArray(growingTables))::text[])
            """
        ).map { (try $0.decode(0, as: String.self), try $0.decode(1, as: Int.self)) }
    }

    public static func databaseBytes(on db: PGConnection) throws -> Int {
        try db.query("SELECT pg_database_size(current_database())")[0].decode(0, as: Int.self)
    }
}
