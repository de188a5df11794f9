import Postgres
import Testing

@Suite("A transaction held open across awaits (the outbox relay's round)", .needsPostgreSQL)
struct SpanningTransactionTests {
    @Test("commits when the body returns, rolls back when it throws; its row locks hold across awaits")
    func commitRollbackAndLocks() async throws {
        let pool = try await TestDatabase.pool(size: 2)
        let table = TestDatabase.uniqueName("spanning")
        try await pool.withConnection {
            _ = try $0.execute(PGQuery(unsafeSQL: "CREATE TABLE \(table) (id integer PRIMARY KEY)"))
            _ = try $0.execute(PGQuery(unsafeSQL: "INSERT INTO \(table) VALUES (1), (2), (3)"))
        }
        let count = PGQuery(unsafeSQL: "SELECT count(*) FROM \(table)")
        let lockFree = PGQuery(unsafeSQL: "SELECT id FROM \(table) ORDER BY id FOR UPDATE SKIP LOCKED")
        let delete = PGQuery(unsafeSQL: "DELETE FROM \(table) WHERE id = 1")

        // While one transaction holds row 1 across a suspension, another connection skips it.
        let seenMeanwhile = try await pool.transaction(spanning: { transaction in
            _ = try await transaction.run { try $0.query(PGQuery(unsafeSQL: "SELECT id FROM \(table) WHERE id = 1 FOR UPDATE")) }
            try await Task.sleep(for: .milliseconds(50))
            let others = try await pool.withConnection { try $0.query(lockFree).map { try $0.decode(0, as: Int.self) } }
            _ = try await transaction.run { try $0.execute(delete) }
            return others
        })
        #expect(seenMeanwhile == [2, 3])
        #expect(try await pool.withConnection { try $0.query(count)[0].decode(0, as: Int.self) } == 2)

        struct Abandon: Error {}
        await #expect(throws: Abandon.self) {
            try await pool.transaction(spanning: { transaction in
                _ = try await transaction.run { try $0.execute(PGQuery(unsafeSQL: "DELETE FROM \(table)")) }
                throw Abandon()
            })
        }
        #expect(try await pool.withConnection { try $0.query(count)[0].decode(0, as: Int.self) } == 2, "rolled back")
        try await pool.withConnection { _ = try $0.execute(PGQuery(unsafeSQL: "DROP TABLE \(table)")) }
        await pool.close()
    }
}
