import Foundation
import Postgres

/// Remembers which redelivered event was being processed, alone, when the daemon died.
///
/// A message that crashes the daemon comes back on restart together with everything else that was unacked. Those
/// redeliveries are processed one at a time, each recorded here before it is tried and forgotten once it is
/// settled: an event found here again was being tried when the daemon died. After `maxCrashes` such deaths it is
/// parked as `poison` without being tried again, while its neighbours, tried alone, are stored normally. Rows live
/// in PostgreSQL, so this holds when the redelivery goes to another daemon.
public struct CrashJournal: Sendable {
    let database: PGPool
    /// This process: attempts count once per process, so a retry within one (after a database fault or a failed
    /// park) is not mistaken for a death.
    let process = UUID().uuidString

    public init(database: PGPool) {
        self.database = database
    }

    /// Deaths while processing one event alone before it is parked as `poison`.
    public static let maxCrashes = 2

    /// Records an attempt at the message with `fingerprint` (what identifies it across redeliveries); returns how
    /// many processes (this one included) have tried it alone.
    public func begin(_ fingerprint: String) async throws -> Int {
        let process = process
        return try await database.withConnection { db in
            try db.query("""
                INSERT INTO crash_journal (fingerprint, attempts, process) VALUES (\(fingerprint), 1, \(process))
                ON CONFLICT (fingerprint) DO UPDATE SET last_tried = now(), process = excluded.process,
                    attempts = crash_journal.attempts + CASE WHEN crash_journal.process = excluded.process THEN 0 ELSE 1 END
                RETURNING attempts
                """, prepared: true)[0].decode(0, as: Int.self)
        }
    }

    /// Forgets the message once it is settled (stored, parked, or handed back to the broker on purpose).
    public func end(_ fingerprint: String) async throws {
        try await database.withConnection { db in
            _ = try db.execute("DELETE FROM crash_journal WHERE fingerprint = \(fingerprint)")
        }
    }
}
