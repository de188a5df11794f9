import Foundation
import Postgres
import Testing

@Suite("PostgreSQL transactions, reconnects and migrations", .needsPostgreSQL)
struct FailureTests {
    struct Abort: Error {}

    @Test("a transaction that throws leaves nothing behind")
    func rollback() async throws {
        let pool = try await TestDatabase.pool()
        let table = TestDatabase.uniqueName("rollback")
        try await pool.withConnection { _ = try $0.execute(PGQuery(unsafeSQL: "CREATE TABLE \(table) (n integer)")) }
        await #expect(throws: Abort.self) {
            try await pool.transaction { db in
                try db.execute(PGQuery(unsafeSQL: "INSERT INTO \(table) VALUES (1), (2)"))
                throw Abort()
            }
        }
        try await pool.transaction { db in try db.execute(PGQuery(unsafeSQL: "INSERT INTO \(table) VALUES (3)")) }
        let rows = try await pool.withConnection { try $0.query(PGQuery(unsafeSQL: "SELECT n FROM \(table)")) }
        #expect(try rows.map { try $0.decode(0, as: Int.self) } == [3])
        try await pool.withConnection { _ = try $0.execute(PGQuery(unsafeSQL: "DROP TABLE \(table)")) }
        await pool.close()
    }

    @Test("after pg_terminate_backend the failed call is retriable and the pool reconnects")
    func reconnectAfterTermination() async throws {
        let pool = try await TestDatabase.pool(size: 1)
        let admin = try await TestDatabase.pool(size: 1)
        let victim = try await pool.withConnection { $0.backendPID }
        let terminated = try await admin.withConnection { try $0.query("SELECT pg_terminate_backend(\(victim))") }
        #expect(try terminated[0].decode(0, as: Bool.self))

        do {
            _ = try await pool.withConnection { try $0.query("SELECT 1") }
            Issue.record("a query on a terminated backend should fail")
        } catch let error as PGError {
            #expect(error.isRetriable, "\(error)")
        }
        let answer = try await pool.withConnection { db in (try db.query("SELECT 41 + 1")[0].decode(0, as: Int.self), db.backendPID) }
        #expect(answer.0 == 42)
        #expect(answer.1 != victim)
        await pool.close()
        await admin.close()
    }

    @Test("two daemons migrating at once apply each migration exactly once")
    func racingMigrations() async throws {
        let table = TestDatabase.uniqueName("migrated")
        let history = TestDatabase.uniqueName("history")
        let migrations = [
            PGMigration(version: 1, name: "create", sql: "CREATE TABLE \(table) (n integer); SELECT pg_sleep(0.3)"),
            PGMigration(version: 2, name: "seed", sql: "INSERT INTO \(table) VALUES (1)"),
        ]
        let first = try await TestDatabase.pool(size: 1)
        let second = try await TestDatabase.pool(size: 1)
        let migrator = PGMigrator(migrations: migrations, historyTable: history, lockKey: Int64.random(in: 1...Int64.max))
        async let a = migrator.migrate(on: first, logger: TestDatabase.logger)
        async let b = migrator.migrate(on: second, logger: TestDatabase.logger)
        let applied = try await [a, b]
        #expect(applied.sorted { $0.count < $1.count } == [[], [1, 2]])
        let rows = try await first.withConnection { try $0.query(PGQuery(unsafeSQL: "SELECT count(*) FROM \(table)")) }
        #expect(try rows[0].decode(0, as: Int.self) == 1)
        #expect(try await migrator.migrate(on: first, logger: TestDatabase.logger) == [])
        try await first.withConnection { _ = try $0.execute(script: "DROP TABLE \(table); DROP TABLE \(history)") }
        await first.close()
        await second.close()
    }

    @Test("a history table name that is not a plain identifier is refused before any SQL runs")
    func badHistoryTable() async throws {
        let pool = try await TestDatabase.pool(size: 1)
        let migrator = PGMigrator(migrations: [], historyTable: "x; DROP TABLE y")
        await #expect(throws: PGError.self) { try await migrator.migrate(on: pool, logger: TestDatabase.logger) }
        await pool.close()
    }
}

@Suite("PostgreSQL pool limits", .needsPostgreSQL)
struct PoolTests {
    @Test("more callers than connections wait their turn; after close, callers get an error, not a crash")
    func queueingAndClose() async throws {
        let pool = try await TestDatabase.pool(size: 2)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Int.self) { group in
            for index in 0..<6 {
                group.addTask {
                    try await pool.withConnection { try $0.query("SELECT \(index), pg_sleep(0.1)")[0].decode(0, as: Int.self) }
                }
            }
            var seen: [Int] = []
            for try await value in group { seen.append(value) }
            #expect(seen.sorted() == Array(0..<6))
        }
        // Six 100 ms queries on two connections take at least three rounds.
        #expect(ContinuousClock.now - started >= .milliseconds(300))
        await pool.close()
        await #expect(throws: PGError.self) { try await pool.withConnection { try $0.query("SELECT 1") } }
    }
}
