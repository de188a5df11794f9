import Dispatch
import Postgres
import StackSupport
import Testing

@Suite("The pool's queue for work from outside (HTTP requests)", .needsPostgreSQL)
struct PoolQueueTests {
    @Test(
        "with every connection lent, at most the limit wait; the next is refused at once (busy); callers without a limit still queue, uncounted"
    )
    func boundedWaiters() async throws {
        let pool = try await TestDatabase.pool(size: 1)
        let held = DispatchSemaphore(value: 0)
        let holder = Task { try await pool.withConnection { _ in held.wait() } }
        let select = PGQuery(unsafeSQL: "SELECT 1")
        // The daemon's own work waiting first: it does not count against the limit.
        let own = Task { try await pool.withConnection { try $0.query(select)[0].decode(0, as: Int.self) } }
        try await Self.until { pool.waiting.all == 1 }
        let waiting = (0..<2).map { _ in
            Task { try await pool.withConnection(queueingAtMost: 2) { try $0.query(select)[0].decode(0, as: Int.self) } }
        }
        try await Self.until { pool.waiting.limited == 2 }

        let started = ContinuousClock.now
        let refused: PGError.Code?
        do {
            _ = try await pool.withConnection(queueingAtMost: 2) { try $0.query(select)[0].decode(0, as: Int.self) }
            refused = nil
        } catch {
            refused = (error as? PGError)?.code
        }
        #expect(refused == .busy)
        #expect(ContinuousClock.now - started < .milliseconds(500), "refused at once, not after a wait")
        let unlimited = Task { try await pool.withConnection { try $0.query(select)[0].decode(0, as: Int.self) } }
        try await Self.until { pool.waiting.all == 4 }
        #expect(pool.waiting.limited == 2)

        held.signal()
        try await holder.value
        #expect(try await own.value == 1)
        for task in waiting { #expect(try await task.value == 1) }
        #expect(try await unlimited.value == 1)
        let free = try await pool.withConnection(queueingAtMost: 0) { try $0.query(select)[0].decode(0, as: Int.self) }
        #expect(free == 1, "a free connection needs no queue")
        await pool.close()
    }

    /// Waits (up to 10 s) until `condition` holds.
    static func until(_ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                throw SupportFailure("the pool's queue never came to the state the test waits for")
            }
            try await Task.sleep(for: .milliseconds(10))
        }
    }
}
