import Synchronization

/// Wakes an idle worker of the outbox relay as soon as this daemon commits rows to the outbox, so a high-lane job
/// (or an `OutOfStock`) leaves at once instead of at the relay's next poll. The poll stays, for rows that other
/// daemons commit. A ring with no worker waiting is kept for the next one to wait, so none is lost.
final class OutboxDoorbell: Sendable {
    private struct State {
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        /// Waits begun whose continuation is not stored yet, and those of them already cancelled.
        var starting: Set<UInt64> = []
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
        var pending = false
    }

    private let state = Mutex(State())

    /// Wakes one waiting worker: a round takes up to a batch, and a worker that found a full one goes on at
    /// once, so waking every worker for each commit would only add empty rounds.
    func ring() {
        let waiter = state.withLock { state in
            guard let id = state.waiters.keys.first else {
                state.pending = true
                return CheckedContinuation<Void, Never>?.none
            }
            return state.waiters.removeValue(forKey: id)
        }
        waiter?.resume()
    }

    /// Returns when the bell rings (or had rung since the last wait), or after `timeout`, whichever comes first.
    func wait(atMost timeout: Duration) async {
        let rungAlready = state.withLock { state in
            defer { state.pending = false }
            return state.pending
        }
        if rungAlready { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: timeout) }
            group.addTask { await self.rung() }
            await group.next()
            group.cancelAll()
        }
    }

    private func rung() async {
        let id = state.withLock { state in
            defer { state.nextID &+= 1 }
            state.starting.insert(state.nextID)
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    state.starting.remove(id)
                    if state.cancelled.remove(id) != nil { return true }
                    if state.pending {
                        state.pending = false
                        return true
                    }
                    state.waiters[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                guard let waiter = state.waiters.removeValue(forKey: id) else {
                    // Not stored yet: the store resumes it at once. Already resumed by a ring: nothing to do.
                    if state.starting.contains(id) { state.cancelled.insert(id) }
                    return CheckedContinuation<Void, Never>?.none
                }
                return waiter
            }
            waiter?.resume()
        }
    }
}
