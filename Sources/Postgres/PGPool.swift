import Dispatch
import Logging
import Synchronization

/// A small pool of PostgreSQL connections, each bound to its own serial dispatch queue.
///
/// libpq calls block, so they never run on Swift's cooperative pool (two threads on this machine): a caller awaits
/// while its closure runs on the slot's queue. A broken connection is replaced before its slot is used again.
public final class PGPool: Sendable {
    private let configuration: PGConfiguration
    private let logger: Logger
    private let slots: [Slot]
    private let state: Mutex<State>
    private let next = Atomic<Int>(0)

    private struct State {
        var idle: [Int]
        /// Callers waiting for a connection, first come first served; `limited` for work from outside.
        var waiters: [(continuation: CheckedContinuation<Int?, Never>, limited: Bool)] = []
        /// How many of `waiters` came with a queue limit: the limit counts only these, so the daemon's own work
        /// waiting (retention, recipient updates) never makes an HTTP request busy.
        var limitedWaiting = 0
        var closed = false
    }

    public init(configuration: PGConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        let size = max(1, configuration.poolSize)
        slots = (0..<size).map { Slot(index: $0) }
        state = Mutex(State(idle: Array((0..<size).reversed())))
    }

    /// Opens every connection now, so a daemon fails at start (with the server's reason) rather than on first use.
    public func connect() async throws(PGError) {
        for slot in slots {
            let result: Result<Void, PGError> = await slot.run { connection throws(PGError) in
                if connection.connection == nil { connection.connection = try PGConnection(configuration: self.configuration) }
            }
            try result.get()
        }
    }

    /// Lends a connection to `body`, which runs on that connection's own thread and may block.
    ///
    /// A connection that broke is reconnected before it is lent again; a body that failed because the connection
    /// broke gets a `PGError` with `isRetriable`, and the caller decides whether the work can be redone.
    public func withConnection<Value: Sendable>(
        _ body: @escaping @Sendable (PGConnection) throws -> Value
    ) async throws -> Value {
        try await withConnection(queueingAtMost: nil, body)
    }

    /// Like `withConnection(_:)` for work from outside (an HTTP request): when every connection is lent and `limit`
    /// callers with a limit already wait, it fails at once with `PGError.busy` instead of queueing, so a flood of
    /// requests costs a bounded queue and an answer, never an ever longer wait. Callers without a limit still queue
    /// (behind these), and are not counted against it.
    public func withConnection<Value: Sendable>(
        queueingAtMost limit: Int?, _ body: @escaping @Sendable (PGConnection) throws -> Value
    ) async throws -> Value {
        let index = try await acquire(queueingAtMost: limit)
        defer { release(index) }
        let configuration = configuration
        let logger = logger
        let result: Result<Value, any Error> = await slots[index].run { slot in
            try body(try slot.usableConnection(configuration, logger))
        }
        return try result.get()
    }

    /// Runs `body` on one of the connections' threads without waiting for it: the lightest way to use the pool
    /// from a thread that must not block (an AMQP connection thread). Work is spread round-robin; each
    /// connection runs its work in order. `body` gets the connection, or the error that kept it from connecting.
    public func submit(_ body: @escaping @Sendable (Result<PGConnection, PGError>) -> Void) {
        let index = next.wrappingAdd(1, ordering: .relaxed).oldValue % slots.count
        let configuration = configuration
        let logger = logger
        slots[index].queue.async { [slot = slots[index]] in
            body(Result { () throws(PGError) in try slot.usableConnection(configuration, logger) })
        }
    }

    /// Runs `body` in a transaction on a pooled connection.
    @discardableResult
    public func transaction<Value: Sendable>(
        _ body: @escaping @Sendable (PGConnection) throws -> Value
    ) async throws -> Value {
        try await withConnection { try $0.transaction(body) }
    }

    /// Runs `body` in a transaction that stays open across suspension points: the outbox relay holds its rows'
    /// locks while it awaits the broker's confirms. Each step (`PGTransaction.run`) runs on the connection's own
    /// thread; the transaction commits when `body` returns and rolls back when it throws. A connection that
    /// breaks in between fails the steps after it: none runs on a fresh connection, outside the transaction.
    public func transaction<Value: Sendable>(
        spanning body: (PGTransaction) async throws -> Value
    ) async throws -> Value {
        let index = try await acquire(queueingAtMost: nil)
        defer { release(index) }
        let (configuration, logger, slot) = (configuration, logger, slots[index])
        let begun: Result<ObjectIdentifier, any Error> = await slot.run { slot in
            let connection = try slot.usableConnection(configuration, logger)
            try connection.execute("BEGIN")
            return ObjectIdentifier(connection)
        }
        let transaction = PGTransaction(slot: slot, connection: try begun.get())
        do {
            let value = try await body(transaction)
            _ = try await transaction.run { try $0.execute("COMMIT") }
            return value
        } catch {
            _ = try? await transaction.run { try $0.execute("ROLLBACK") }
            throw error
        }
    }

    /// Returns once every connection's thread has run a trivial step and each open connection answered
    /// `SELECT 1` (an error is an answer too): a liveness check. It never returns while a thread is stuck in a
    /// libpq call, which is what a watchdog needs to notice.
    public func ping() async {
        for slot in slots {
            _ = await slot.run { slot in
                if let connection = slot.connection, connection.isUsable { _ = try? connection.query("SELECT 1") }
            }
        }
    }

    /// Connections in the pool.
    public var size: Int { slots.count }

    /// Callers waiting for a connection now, and how many of them came with a queue limit.
    public var waiting: (all: Int, limited: Int) {
        state.withLock { ($0.waiters.count, $0.limitedWaiting) }
    }

    /// True when the server answers a trivial query on a pooled connection (reconnecting one that broke).
    public func answers() async -> Bool {
        (try? await withConnection { try $0.query("SELECT 1") }) != nil
    }

    /// Closes idle connections and refuses new work; waits for lent connections to come back.
    public func close() async {
        let waiters = state.withLock { state in
            state.closed = true
            defer {
                state.waiters.removeAll()
                state.limitedWaiting = 0
            }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: nil) }
        for slot in slots {
            _ = await slot.run { $0.connection = nil }
        }
    }

    /// A free slot, after waiting for one if all are lent (unless `limit` callers already wait).
    private func acquire(queueingAtMost limit: Int?) async throws(PGError) -> Int {
        var busy = false
        let index: Int? = await withCheckedContinuation { continuation in
            let immediate: Int?? = state.withLock { state in
                if state.closed { return .some(nil) }
                if let index = state.idle.popLast() { return .some(index) }
                if let limit, state.limitedWaiting >= limit {
                    busy = true
                    return .some(nil)
                }
                state.waiters.append((continuation, limit != nil))
                if limit != nil { state.limitedWaiting += 1 }
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
        if busy { throw PGError(.busy, "every connection is in use and \(limit ?? 0) callers already wait for one") }
        guard let index else { throw PGError(.connectionFailed, "the connection pool is closed") }
        return index
    }

    private func release(_ index: Int) {
        let waiter = state.withLock { state -> CheckedContinuation<Int?, Never>? in
            if state.waiters.isEmpty {
                state.idle.append(index)
                return nil
            }
            let waiter = state.waiters.removeFirst()
            if waiter.limited { state.limitedWaiting -= 1 }
            return waiter.continuation
        }
        waiter?.resume(returning: index)
    }
}

/// A transaction open on one pooled connection (`PGPool.transaction(spanning:)`).
public struct PGTransaction: Sendable {
    fileprivate let slot: Slot
    /// The connection the transaction began on.
    fileprivate let connection: ObjectIdentifier

    /// Runs `body` on the transaction's connection, on its thread; fails if that connection broke or was replaced.
    public func run<Value: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> Value) async throws -> Value {
        let connection = connection
        let result: Result<Value, any Error> = await slot.run { slot in
            guard let current = slot.connection, ObjectIdentifier(current) == connection, current.isUsable else {
                throw PGError(.connectionFailed, "the connection broke during the transaction")
            }
            return try body(current)
        }
        return try result.get()
    }
}

/// One connection and the queue that is the only place it is used.
fileprivate final class Slot: @unchecked Sendable {
    let queue: DispatchQueue
    /// Touched only on `queue`.
    var connection: PGConnection?

    init(index: Int) {
        queue = DispatchQueue(label: "postgres.connection.\(index)")
    }

    /// The slot's connection, replacing it first if the server or network broke it. Call on `queue` only.
    func usableConnection(_ configuration: PGConfiguration, _ logger: Logger) throws(PGError) -> PGConnection {
        if let connection, connection.isUsable { return connection }
        if connection != nil { logger.warning("replacing a broken PostgreSQL connection") }
        connection = nil
        let fresh = try PGConnection(configuration: configuration)
        connection = fresh
        return fresh
    }

    func run<Value: Sendable, Failure: Error>(
        _ body: @escaping @Sendable (Slot) throws(Failure) -> Value
    ) async -> Result<Value, Failure> {
        await withCheckedContinuation { continuation in
            queue.async {
                continuation.resume(returning: Result { () throws(Failure) -> Value in try body(self) })
            }
        }
    }
}
