import Postgres

/// What the metrics sampler counts in the database: rows waiting in the outbox and messages in the parked archive.
/// Each count stops at `cap`, so a huge backlog costs a bounded scan every sample (the figure then reads `cap`).
public enum BacklogStore {
    public struct Counts: Sendable, Equatable {
        public var outbox: Int
        public var parked: Int
    }

    public static func counts(cap: Int = 1_000_000, on database: PGPool) async throws -> Counts {
        try await database.withConnection { db in
            let row = try db.query(
                """
                SELECT (SELECT count(*) FROM (SELECT 1 FROM outbox LIMIT \(cap)) o),
                       (SELECT count(*) FROM (SELECT 1 FROM parked LIMIT \(cap)) p)
                """, prepared: true)[0]
            let (outbox, parked) = try row.decode(Int.self, Int.self)
            return Counts(outbox: outbox, parked: parked)
        }
    }
}
