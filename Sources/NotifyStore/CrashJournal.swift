import Foundation
import Postgres

/// Remembers which redelivered events a daemon was processing when it died.
///
/// A message that crashes the daemon comes back on restart together with everything else that was unacked. A batch
/// of redeliveries is journaled with one statement before it is processed and forgotten with one after, so the
/// common redeliveries (after a broker restart, a database outage, a graceful restart) keep group commit. Events
/// found in the journal from an earlier process — it died holding them — are tried one at a time, each marked
/// before it is tried; one the daemon also died on alone is parked as `poison`, while its neighbours are stored.
/// Rows live in PostgreSQL, so this holds when the redelivery goes to another daemon. Counts rise once per process,
/// so a retry within one (after a database fault or a failed park) is never mistaken for a death.
public struct CrashJournal: Sendable {
    let database: PGPool
    let process = UUID().uuidString

    public init(database: PGPool) {
        self.database = database
    }

    /// Deaths while processing one event alone before it is parked as `poison`.
    public static let maxAloneCrashes = 1

    /// Journals a batch of redeliveries by fingerprint (what identifies a message across redeliveries); returns,
    /// per fingerprint, how many processes (this one included) have journaled it: more than one means an earlier
    /// process died holding it.
    public func begin(_ fingerprints: [String]) async throws -> [String: Int] {
        let (distinct, process) = (Array(Set(fingerprints)), process)
        return try await database.withConnection { db in
            var attempts: [String: Int] = [:]
            for row in try db.query(
                """
                INSERT INTO crash_journal (fingerprint, attempts, process)
                SELECT f, 1, \(process) FROM unnest(\(PGTextArray(distinct))::text[]) AS f
                ON CONFLICT (fingerprint) DO UPDATE SET last_tried = now(), process = excluded.process,
                    attempts = crash_journal.attempts + CASE WHEN crash_journal.process = excluded.process THEN 0 ELSE 1 END
                RETURNING fingerprint, attempts
                """, prepared: true)
            {
                let (fingerprint, count) = try row.decode(String.self, Int.self)
                attempts[fingerprint] = count
            }
            return attempts
        }
    }

    /// Marks a journaled event as being tried alone; returns how many processes have tried it alone.
    public func beginAlone(_ fingerprint: String) async throws -> Int {
        let process = process
        return try await database.withConnection { db in
            try db.query(
                """
                UPDATE crash_journal SET alone_process = \(process), last_tried = now(),
                    alone_attempts = alone_attempts + CASE WHEN alone_process IS DISTINCT FROM \(process) THEN 1 ELSE 0 END
                WHERE fingerprint = \(fingerprint)
                RETURNING alone_attempts
                """, prepared: true
            ).first?.decode(0, as: Int.self) ?? 1
        }
    }

    /// Forgets a batch once it is settled (stored, parked, or handed back to the broker on purpose).
    public func end(_ fingerprints: [String]) async throws {
        try await database.withConnection { db in
            _ = try db.execute("DELETE FROM crash_journal WHERE fingerprint = ANY(\(PGTextArray(fingerprints))::text[])")
        }
    }
}
