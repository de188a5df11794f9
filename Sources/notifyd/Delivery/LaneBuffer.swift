import AMQP
import NotifyCore
import Synchronization

/// The deliveries the lane consumers received and the workers have not taken yet. Each lane's consumer puts
/// its deliveries here from the connection's thread (no task per message); workers take a batch from one lane at
/// a time, chosen by the `LaneScheduler`: `high` first, `normal:low` weighted. Bounded by the lanes' prefetch:
/// the broker sends no more than that unacked.
///
/// It also knows how long the oldest job it holds has waited, per lane (queued here or taken and not yet
/// settled): the broker delivers a lane in order, so that is the age of the lane's head, which readiness and
/// `notify_lane_oldest_age_seconds` report. A job's age counts from its AMQP `timestamp`: when the relay published
/// it, or when its retry tier sends it back.
final class LaneBuffer: Sendable {
    private struct State {
        var lanes: [NotificationPriority: [AMQPDelivery]] = [:]
        var scheduler: LaneScheduler
        var waiters: [CheckedContinuation<Void, Never>] = []
        var closed = false
        /// The oldest timestamp of each batch taken and not yet done, by ticket.
        var taken: [Int: (lane: NotificationPriority, oldest: UInt64)] = [:]
        var nextTicket = 0
    }

    /// A batch of one lane; hand it back to `done` once it is settled.
    struct Batch {
        var lane: NotificationPriority
        var deliveries: [AMQPDelivery]
        fileprivate var ticket: Int
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
    func take(max: Int, highOnly: Bool = false) async -> Batch? {
        while true {
            let taken: Batch?? = state.withLock { state in
                let lanes = state.lanes
                let lane =
                    highOnly
                    ? (lanes[.high]?.isEmpty == false ? NotificationPriority.high : nil)
                    : state.scheduler.next(hasWork: { !(lanes[$0]?.isEmpty ?? true) })
                if let lane {
                    let queued = state.lanes[lane] ?? []
                    let count = Swift.min(max, queued.count)
                    state.lanes[lane] = Array(queued.dropFirst(count))
                    let batch = Array(queued.prefix(count))
                    let ticket = state.nextTicket
                    state.nextTicket &+= 1
                    state.taken[ticket] = (lane, batch.compactMap(\.properties.timestamp).min() ?? UInt64.max)
                    return .some(Batch(lane: lane, deliveries: batch, ticket: ticket))
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

    /// The batch is settled (acked or handed back): its jobs no longer count for the lane's age.
    func done(_ batch: Batch) {
        _ = state.withLock { $0.taken.removeValue(forKey: batch.ticket) }
    }

    /// Seconds the oldest job held from `lane` has waited at `now` (seconds since 1970); zero when none is held.
    func oldestAge(_ lane: NotificationPriority, now: UInt64) -> UInt64 {
        let oldest = state.withLock { state in
            let queued = state.lanes[lane]?.lazy.compactMap(\.properties.timestamp).min() ?? .max
            return state.taken.values.lazy.filter { $0.lane == lane }.map(\.oldest).reduce(queued, Swift.min)
        }
        return oldest == .max ? 0 : now - Swift.min(oldest, now)
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
