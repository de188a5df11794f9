import NotifyCore
import Postgres

/// The shared GCRA schedules (`rate_limits`): every daemon reserves its slots here, so a limit holds across all
/// of them. One statement applies `GCRA.advance` with the database's clock, the only clock the daemons share,
/// and returns the new TAT with that clock's now, in seconds since 1970; the caller works out its wait with
/// `GCRA.wait`. Now is the statement's start, so time spent waiting for the row lock only makes the caller wait
/// longer, never send early.
public enum RateLimitStore {
    public struct Reservation: Sendable, Equatable {
        public var tat: Double
        public var now: Double
    }

    public static func reserve(_ count: Int, of key: String, limit: RateLimit, on database: PGPool) async throws -> Reservation {
        let step = Double(count) * limit.interval
        return try await database.withConnection { db in
            let row = try db.query("""
                INSERT INTO rate_limits AS r (key, tat) VALUES (\(key), statement_timestamp() + make_interval(secs => \(step)))
                ON CONFLICT (key) DO UPDATE SET tat = GREATEST(r.tat, statement_timestamp()) + make_interval(secs => \(step))
                RETURNING extract(epoch FROM tat)::float8, extract(epoch FROM statement_timestamp())::float8
                """, prepared: true)[0]
            let (tat, now) = try row.decode(Double.self, Double.self)
            return Reservation(tat: tat, now: now)
        }
    }

    /// Hands back `count` reserved slots that will not be used (`GCRA.giveBack`).
    public static func giveBack(_ count: Int, of key: String, limit: RateLimit, on database: PGPool) async throws {
        let step = Double(count) * limit.interval
        _ = try await database.withConnection { db in
            try db.execute("UPDATE rate_limits SET tat = tat - make_interval(secs => \(step)) WHERE key = \(key)")
        }
    }
}
