import Synchronization

/// One consumer of a queue, in one of two forms:
/// - *pull* (`AMQPConnection.consume(queue:prefetch:)`): take deliveries in batches with `next(max:)`, or one at a
///   time as an `AsyncSequence`, and settle them with `AMQPConnection.settle(_:)`, `ack`, `nack` or `reject`;
/// - *handler* (`consume(queue:prefetch:handler:)`): each delivery goes to a handler on the connection's thread,
///   the lightest form when the work is handed to another thread at once (no task, no buffer).
///
/// Either way `finished()` returns once the consumer was cancelled or its connection closed, and a pull
/// consumer's sequence ends after everything received was handed over.
public final class AMQPConsumer: AsyncSequence, Sendable {
    public typealias Element = AMQPDelivery
    public let tag: String
    private let handler: (@Sendable (AMQPDelivery) -> Void)?
    private let state = Mutex(State())

    private struct State {
        var buffered: [AMQPDelivery] = []
        /// Deliveries received but not yet flushed by the connection thread (at the end of its read turn).
        var pending: [AMQPDelivery] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
        var finishWaiters: [CheckedContinuation<Void, Never>] = []
    }

    init(tag: String, handler: (@Sendable (AMQPDelivery) -> Void)? = nil) {
        self.tag = tag
        self.handler = handler
    }

    /// Up to `max` deliveries, in arrival order, waiting only when none is buffered. Nil once the consumer was
    /// cancelled or its connection closed and everything was handed over (at once for the handler form).
    public func next(max: Int) async -> [AMQPDelivery]? {
        while true {
            let taken: [AMQPDelivery]?? = state.withLock { state in
                if !state.buffered.isEmpty {
                    let count = Swift.min(max, state.buffered.count)
                    defer { state.buffered.removeFirst(count) }
                    return .some(Array(state.buffered.prefix(count)))
                }
                return state.finished ? .some(nil) : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state in
                    if !state.buffered.isEmpty || state.finished { return true }
                    state.waiter = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    /// Returns once the consumer was cancelled or its connection closed.
    public func finished() async {
        await withCheckedContinuation { continuation in
            let done = state.withLock { state in
                if !state.finished { state.finishWaiters.append(continuation) }
                return state.finished
            }
            if done { continuation.resume() }
        }
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let consumer: AMQPConsumer
        var taken: [AMQPDelivery] = []

        public mutating func next() async -> AMQPDelivery? {
            if taken.isEmpty { taken = (await consumer.next(max: 64) ?? []).reversed() }
            return taken.popLast()
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(consumer: self) }

    // MARK: - Called on the connection's thread

    func deliver(_ delivery: AMQPDelivery) {
        if let handler { return handler(delivery) }
        state.withLock { $0.pending.append(delivery) }
    }

    func flush() {
        guard handler == nil else { return }
        let waiter = state.withLock { state in
            state.buffered += state.pending
            state.pending.removeAll(keepingCapacity: true)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Drops buffered deliveries of connections before `generation`: the broker requeued them when their
    /// connection died, and a settlement of them would be dropped anyway.
    func discard(before generation: UInt64) {
        state.withLock { state in
            state.buffered.removeAll { $0.generation < generation }
            state.pending.removeAll { $0.generation < generation }
        }
    }

    func finish() {
        let (waiter, finishWaiters) = state.withLock { state in
            state.buffered += state.pending
            state.pending.removeAll()
            state.finished = true
            defer {
                state.waiter = nil
                state.finishWaiters.removeAll()
            }
            return (state.waiter, state.finishWaiters)
        }
        waiter?.resume()
        for waiter in finishWaiters { waiter.resume() }
    }
}
