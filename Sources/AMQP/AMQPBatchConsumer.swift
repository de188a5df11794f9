import Synchronization

/// Deliveries of one consumer, taken in batches with `next(max:)`.
public final class AMQPBatchConsumer: Sendable {
    public let tag: String
    private let state = Mutex(State())

    private struct State {
        var buffered: [AMQPDelivery] = []
        /// Deliveries received but not yet flushed by the connection thread (end of its read turn).
        var pending: [AMQPDelivery] = []
        var waiter: CheckedContinuation<Void, Never>?
        var finished = false
    }

    init(tag: String) { self.tag = tag }

    /// Up to `max` deliveries, in arrival order, waiting only when none is buffered. Nil once the consumer was
    /// cancelled or its connection closed and everything was handed over.
    public func next(max: Int) async -> [AMQPDelivery]? {
        while true {
            let taken: [AMQPDelivery]?? = state.withLock { state in
                if !state.buffered.isEmpty {
                    let count = min(max, state.buffered.count)
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

    @Sendable func append(_ delivery: AMQPDelivery) {
        state.withLock { $0.pending.append(delivery) }
    }

    @Sendable func flush() {
        let waiter = state.withLock { state in
            state.buffered += state.pending
            state.pending.removeAll(keepingCapacity: true)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Drops buffered deliveries of connections before `generation`: the broker requeued them when their
    /// connection died, and an ack for them would be dropped anyway.
    @Sendable func discard(before generation: UInt64) {
        state.withLock { state in
            state.buffered.removeAll { $0.generation < generation }
            state.pending.removeAll { $0.generation < generation }
        }
    }

    @Sendable func finish() {
        let waiter = state.withLock { state in
            state.buffered += state.pending
            state.pending.removeAll()
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }
}
