import NotifyCore
import Postgres

/// The shared GCRA schedules (`rate_limits`): every daemon reserves its slots here, so a limit holds across all
/// of them. One statement applies `GCRA.advance` to every key of a request with the database's clock, the only
/// clock the daemons share, and returns each new TAT with that clock's now, in seconds since 1970; the caller
/// works out its waits with `GCRA.wait`. Now is the statement's start, so time spent waiting for a row lock only
/// makes the caller wait longer, never send early. Keys are locked in sorted order, so two daemons reserving
/// overlapping keys never deadlock.
public enum RateLimitStore {
    /// Reserves every request's slots in one statement; requests for the same key must be merged first.
    public static func reserve(_ requests: [SlotRequest], on database: PGPool) async throws -> [String: SlotReservation] {
        let requests = requests.sorted { $0.key < $1.key }
        guard !requests.isEmpty else { return [:] }
        return try await database.withConnection { db in
            let rows = try db.query(
                """
                INSERT INTO rate_limits AS r (key, tat)
                SELECT k, statement_timestamp() + make_interval(secs => s)
                FROM unnest(\(PGTextArray(requests.map(\.key)))::text[], \(PGTextArray(requests.map { String($0.seconds) }))::float8[]) AS q(k, s)
                ORDER BY k
                ON CONFLICT (key) DO UPDATE SET tat = GREATEST(r.tat, statement_timestamp()) + (EXCLUDED.tat - statement_timestamp())
                RETURNING r.key, extract(epoch FROM r.tat)::float8, extract(epoch FROM statement_timestamp())::float8
                """, prepared: true)
            var reservations: [String: SlotReservation] = [:]
            for row in rows {
                let (key, tat, now) = try row.decode(String.self, Double.self, Double.self)
                reservations[key] = SlotReservation(tat: tat, now: now)
            }
            return reservations
        }
    }

    /// Hands back reserved slots that will not be used (`GCRA.giveBack`).
    public static func giveBack(_ requests: [SlotRequest], on database: PGPool) async throws {
        let requests = requests.sorted { $0.key < $1.key }
        guard !requests.isEmpty else { return }
        _ = try await database.withConnection { db in
            // Locked in key order first, as `reserve` locks them, so the two never deadlock.
            try db.execute(
                """
                WITH locked AS (SELECT key FROM rate_limits WHERE key = ANY(\(PGTextArray(requests.map(\.key)))::text[]) ORDER BY key FOR UPDATE)
                UPDATE rate_limits r SET tat = r.tat - make_interval(secs => q.s)
                FROM unnest(\(PGTextArray(requests.map(\.key)))::text[], \(PGTextArray(requests.map { String($0.seconds) }))::float8[]) AS q(k, s)
                WHERE r.key = q.k AND r.key IN (SELECT key FROM locked)
                """)
        }
    }

    /// Pushes `key`'s schedule so nothing is due before `seconds` from now (`GCRA.pushed`), for every daemon: a
    /// provider's 429 with its `Retry-After`.
    public static func push(_ key: String, by seconds: Double, limit: RateLimit, on database: PGPool) async throws {
        let offset = GCRA.pushOffset(seconds, limit: limit)
        _ = try await database.withConnection { db in
            try db.execute(
                """
                INSERT INTO rate_limits AS r (key, tat) VALUES (\(key), statement_timestamp() + make_interval(secs => \(offset)))
                ON CONFLICT (key) DO UPDATE SET tat = GREATEST(r.tat, EXCLUDED.tat)
                """)
        }
    }

    /// A quota (`GCRA.refusal`): takes `count` slots of `key` if they can all be taken now, in one statement on the
    /// caller's connection; otherwise takes none and returns how many seconds until they could be (rounded up).
    public static func admit(_ key: String, count: Int, limit: RateLimit, on db: PGConnection) throws -> Int? {
        let seconds = Double(count) * limit.interval
        let early = Double(limit.burst) * limit.interval
        let row = try db.query(
            """
            WITH taken AS (
                INSERT INTO rate_limits AS r (key, tat) VALUES (\(key), statement_timestamp() + make_interval(secs => \(seconds)))
                ON CONFLICT (key) DO UPDATE SET tat = GREATEST(r.tat, statement_timestamp()) + make_interval(secs => \(seconds))
                WHERE GREATEST(r.tat, statement_timestamp()) + make_interval(secs => \(seconds - early)) <= statement_timestamp()
                RETURNING true)
            SELECT EXISTS (SELECT 1 FROM taken),
                   (SELECT extract(epoch FROM GREATEST(tat, statement_timestamp()) + make_interval(secs => \(seconds - early))
                                               - statement_timestamp())::float8
                    FROM rate_limits WHERE key = \(key))
            """, prepared: true)[0]
        if try row.decode(0, as: Bool.self) { return nil }
        return Swift.max(1, Int((try row.decodeIfPresent(1, as: Double.self) ?? 1).rounded(.up)))
    }

    /// Starts `key`'s schedule afresh, in the caller's transaction: a quota whose rate changed, whose old schedule
    /// (a time in the old rate's terms) would hold the new one back.
    static func reset(_ key: String, on db: PGConnection) throws {
        try db.execute("DELETE FROM rate_limits WHERE key = \(key)")
    }

    /// Hands back `count` slots `admit` took, on the caller's connection (a request that turned out to be a repeat).
    public static func release(_ key: String, count: Int, limit: RateLimit, on db: PGConnection) throws {
        try db.execute(
            """
            UPDATE rate_limits SET tat = tat - make_interval(secs => \(Double(count) * limit.interval)) WHERE key = \(key)
            """)
    }
}
