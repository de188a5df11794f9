import AMQP
import NotifyCore
import Synchronization

/// The deliveries the lane consumers received and the workers have not taken yet. Each lane's consumer puts
/// its deliveries here from the connection's thread (no task per message); workers take a batch from one lane at
/// a time, chosen by the `LaneScheduler`: `high` first, `normal:low` weighted. Bounded by the lanes' prefetch:
/// the broker sends no more than that unacked.
final class LaneInbox: Sendable {
    private struct State {
        var lanes: [NotificationPriority: [AMQPDelivery]] = [:]
        var scheduler: LaneScheduler
        var waiters: [CheckedContinuation<Void, Never>] = []
        var closed = false
    }

    private let state: Mutex<State>

    init(normalPerLow: Int) {
        state = Mutex(State(scheduler: LaneScheduler(normalPerLow: normalPerLow)))
    }

    /// Called on the connection's thread. Wakes every waiting worker (a handful): the one that may take this
    /// lane takes it, the others wait again.
    func put(_ delivery: AMQPDelivery, lane: NotificationPriority) {
        let waiters = state.withLock { state in
            state.lanes[lane, default: []].append(delivery)
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Up to `max` deliveries of one lane, waiting while there are none; nil once closed and empty. With
    /// `highOnly` only the high lane is taken: a worker kept for urgent mail, so a high-lane job never waits for
    /// a batch of bulk mail to finish.
    func take(max: Int, highOnly: Bool = false) async -> (lane: NotificationPriority, batch: [AMQPDelivery])? {
        while true {
            let taken: (NotificationPriority, [AMQPDelivery])?? = state.withLock { state in
                let lanes = state.lanes
                let lane = highOnly
                    ? (lanes[.high]?.isEmpty == false ? NotificationPriority.high : nil)
                    : state.scheduler.next(hasWork: { !(lanes[$0]?.isEmpty ?? true) })
                if let lane {
                    let queued = state.lanes[lane] ?? []
                    let count = Swift.min(max, queued.count)
                    state.lanes[lane] = Array(queued.dropFirst(count))
                    return .some((lane, Array(queued.prefix(count))))
                }
                return state.closed ? .some(nil) : nil
            }
            if let taken { return taken }
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state in
                    let hasWork = highOnly ? state.lanes[.high]?.isEmpty == false : state.lanes.values.contains { !$0.isEmpty }
                    if state.closed || hasWork { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        }
    }

    /// Wakes every worker; `take` returns what is left, then nil.
    func close() {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
