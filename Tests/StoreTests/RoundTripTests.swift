import Foundation
import Postgres
import Testing

@Suite("PostgreSQL values round-trip unchanged", .needsPostgreSQL)
struct RoundTripTests {
    static let hostile: [String] = [
        "O'Brien", "'; DROP TABLE x; --", "Robert'); DROP TABLE students;--", "\"double\" and 'single' quotes",
        "back\\slash \\x00 \\N", "tab\there\nnewline\r\ncarriage", "Zoë — 日本語 — עברית — 🚀🎉", "$1 $2 ?", "",
        String(repeating: "€x'", count: 350_000),  // just over 1 MB of UTF-8
    ]

    @Test("hostile strings through parameterised INSERT and SELECT")
    func parameterised() async throws {
        let pool = try await TestDatabase.pool()
        let table = TestDatabase.uniqueName("hostile")
        try await pool.withConnection { db in
            try db.execute(PGQuery(unsafeSQL: "CREATE TABLE \(table) (id integer PRIMARY KEY, body text, raw bytea)"))
            for (index, value) in Self.hostile.enumerated() {
                try db.execute(
                    PGQuery(
                        unsafeSQL: "INSERT INTO \(table) VALUES ($1, $2, $3)",
                        parameters: [String(index), value, Array(value.utf8).pgText]))
            }
        }
        let rows = try await pool.withConnection { db in
            try db.query(PGQuery(unsafeSQL: "SELECT id, body, raw FROM \(table) ORDER BY id"))
        }
        #expect(rows.count == Self.hostile.count)
        for row in rows {
            let (index, body, raw) = try row.decode(Int.self, String.self, [UInt8].self)
            #expect(body == Self.hostile[index])
            #expect(raw == Array(Self.hostile[index].utf8))
        }
        // The table the injection strings name is untouched, and so is ours.
        let count = try await pool.withConnection { try $0.query(PGQuery(unsafeSQL: "SELECT count(*) FROM \(table)")) }
        #expect(try count[0].decode(0, as: Int.self) == Self.hostile.count)
        try await pool.withConnection { _ = try $0.execute(PGQuery(unsafeSQL: "DROP TABLE \(table)")) }
        await pool.close()
    }

    @Test("hostile strings through the COPY batch path")
    func copy() async throws {
        let pool = try await TestDatabase.pool()
        let table = TestDatabase.uniqueName("copied")
        let copied = try await pool.withConnection { db in
            try db.execute(PGQuery(unsafeSQL: "CREATE TABLE \(table) (id integer, body text, note text)"))
            return try db.copy(
                into: table, columns: ["id", "body", "note"],
                rows: Self.hostile.enumerated().map { [$0.offset, $0.element, nil] })
        }
        #expect(copied == Self.hostile.count)
        let rows = try await pool.withConnection { db in
            try db.query(PGQuery(unsafeSQL: "SELECT id, body, note FROM \(table) ORDER BY id"))
        }
        for row in rows {
            let index = try row.decode(0, as: Int.self)
            #expect(try row.decode(1, as: String.self) == Self.hostile[index])
            #expect(try row.decodeIfPresent(2, as: String.self) == nil)
        }
        try await pool.withConnection { _ = try $0.execute(PGQuery(unsafeSQL: "DROP TABLE \(table)")) }
        await pool.close()
    }

    @Test("hostile strings through a text array parameter")
    func textArray() async throws {
        let pool = try await TestDatabase.pool()
        let values = Array(Self.hostile.dropLast()) + ["{a,b}", "NULL", "\"quoted\"", "back\\slash"]
        let rows = try await pool.withConnection { db in
            try db.query("SELECT v FROM unnest(\(PGTextArray(values))::text[]) WITH ORDINALITY AS t(v, n) ORDER BY n")
        }
        #expect(try rows.map { try $0.decode(0, as: String.self) } == values)
        await pool.close()
    }

    @Test("typed values: timestamps keep microseconds, UUIDs, booleans, NULL")
    func typedValues() async throws {
        let pool = try await TestDatabase.pool()
        let instant = Date(timeIntervalSince1970: 1_795_000_000.123456)
        let id = UUID()
        let row = try await pool.withConnection { db in
            try db.query("SELECT \(instant)::timestamptz, \(id)::uuid, \(true)::boolean, \(nil as String?)::text")[0]
        }
        let (readInstant, readID, flag) = try row.decode(Date.self, UUID.self, Bool.self)
        #expect(abs(readInstant.timeIntervalSince1970 - instant.timeIntervalSince1970) < 0.000_001)
        #expect(readID == id)
        #expect(flag)
        #expect(try row.decodeIfPresent(3, as: String.self) == nil)
        #expect(throws: PGError.self) { try row.decode(3, as: String.self) }
        await pool.close()
    }

    @Test("a text value with a NUL character is refused before it is sent")
    func nulRefused() async throws {
        let pool = try await TestDatabase.pool()
        await #expect(throws: PGError.self) {
            try await pool.withConnection { try $0.query("SELECT \("a\u{0}b")::text") }
        }
        await pool.close()
    }
}
