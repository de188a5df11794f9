import AMQP
import Foundation
import Postgres

/// Remembers which redelivered event was being processed, alone, when the daemon died.
///
/// A message that crashes the daemon comes back on restart together with everything else that was unacked. Those
/// redeliveries are processed one at a time, each recorded here before it is tried and forgotten once it is
/// settled: an event found here again was being tried when the daemon died. After `maxCrashes` such deaths it is
/// parked as `poison` without being tried again, while its neighbours, tried alone, are stored normally. Rows live
/// in PostgreSQL, so this holds when the redelivery goes to another daemon.
struct CrashJournal: Sendable {
    let database: PGPool
    /// This process: attempts count once per process, so a retry within one (after a database fault or a failed
    /// park) is not mistaken for a death.
    let process = UUID().uuidString

    /// Deaths while processing one event alone before it is parked as `poison`.
    static let maxCrashes = 2

    /// Records an attempt at `delivery`; returns how many processes (this one included) have tried it alone.
    func begin(_ delivery: AMQPDelivery) async throws -> Int {
        let (fingerprint, process) = (Self.fingerprint(delivery), process)
        return try await database.withConnection { db in
            try db.query("""
                INSERT INTO crash_journal (fingerprint, attempts, process) VALUES (\(fingerprint), 1, \(process))
                ON CONFLICT (fingerprint) DO UPDATE SET last_tried = now(), process = excluded.process,
                    attempts = crash_journal.attempts + CASE WHEN crash_journal.process = excluded.process THEN 0 ELSE 1 END
                RETURNING attempts
                """, prepared: true)[0].decode(0, as: Int.self)
        }
    }

    /// Forgets `delivery` once it is settled (stored, parked, or handed back to the broker on purpose).
    func end(_ delivery: AMQPDelivery) async throws {
        let fingerprint = Self.fingerprint(delivery)
        try await database.withConnection { db in
            _ = try db.execute("DELETE FROM crash_journal WHERE fingerprint = \(fingerprint)")
        }
    }

    /// What identifies a message across redeliveries: hashes of its routing key, `message_id` and body, and the
    /// body's length. Two different messages sharing one would only risk being parked as poison together, never
    /// being lost.
    static func fingerprint(_ delivery: AMQPDelivery) -> String {
        func fnv1a<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> String {
            var hash: UInt64 = 0xcbf2_9ce4_8422_2325
            for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01b3 }
            return String(hash, radix: 16)
        }
        let id = delivery.properties.messageID ?? ""
        return [fnv1a(delivery.routingKey.utf8), fnv1a(id.utf8), fnv1a(delivery.body), String(delivery.body.count)]
            .joined(separator: ":")
    }
}
