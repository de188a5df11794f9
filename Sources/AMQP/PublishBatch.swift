/// Messages published together and answered together once every one is settled (confirmed, nacked or timed out).
///
/// Created by the caller, then owned by the connection's thread until `finish` resumes the caller.
final class PublishBatch: @unchecked Sendable {
    let messages: [AMQPOutgoingMessage]
    let deadline: ContinuousClock.Instant
    private(set) var outcomes: [AMQPPublishOutcome?]
    private var unsettled: Int
    private(set) var isFinished = false
    private let continuation: CheckedContinuation<[AMQPPublishOutcome], Never>

    init(
        messages: [AMQPOutgoingMessage], deadline: ContinuousClock.Instant,
        continuation: CheckedContinuation<[AMQPPublishOutcome], Never>
    ) {
        self.messages = messages
        self.deadline = deadline
        self.outcomes = Array(repeating: nil, count: messages.count)
        self.unsettled = messages.count
        self.continuation = continuation
        if messages.isEmpty { finish() }
    }

    /// Indices still waiting for a confirm: after a reconnect these are published again.
    var unsettledIndices: [Int] { outcomes.indices.filter { outcomes[$0] == nil } }

    func settle(_ index: Int, _ outcome: AMQPPublishOutcome) {
        guard !isFinished, outcomes[index] == nil else { return }
        outcomes[index] = outcome
        unsettled -= 1
        if unsettled == 0 { finish() }
    }

    /// Resumes the caller; whatever is still unsettled is reported as `.timedOut` (outcome unknown).
    func finish() {
        guard !isFinished else { return }
        isFinished = true
        continuation.resume(returning: outcomes.map { $0 ?? .timedOut })
    }
}

/// Maps publisher-confirm sequence numbers of the current channel to the batch slot they stand for.
struct ConfirmTracker {
    private var nextSequence: UInt64 = 1
    private var floor: UInt64 = 1
    private var pending: [UInt64: (batch: PublishBatch, index: Int)] = [:]
    /// Sequence numbers whose message came back with `basic.return`; their confirm that follows is not a success.
    private var returned: Set<UInt64> = []

    /// Forgets every sequence number: a new channel counts from 1 again.
    mutating func reset() {
        nextSequence = 1
        floor = 1
        pending.removeAll()
        returned.removeAll()
    }

    /// A publish nobody waits for (a reply, a request) still takes a sequence number on a confirm-mode channel.
    mutating func skip() {
        nextSequence += 1
    }

    mutating func register(_ batch: PublishBatch, index: Int) {
        pending[nextSequence] = (batch, index)
        nextSequence += 1
    }

    /// Records a `basic.return`. It names no sequence number, but the broker sends it before the confirm of the
    /// same message: it belongs to the oldest unconfirmed publish with the same exchange, routing key and
    /// `message_id` not already returned (identical messages in flight are routed alike, so which one does not matter).
    mutating func markReturned(exchange: String, routingKey: String, messageID: String?) {
        let match = pending.filter { sequence, slot in
            let message = slot.batch.messages[slot.index]
            return !returned.contains(sequence) && message.mandatory && message.exchange == exchange
                && message.routingKey == routingKey && message.properties.messageID == messageID
        }.keys.min()
        if let match { returned.insert(match) }
    }

    /// Applies a `basic.ack` / `basic.nack`; `multiple` covers every outstanding number up to `tag`.
    mutating func settle(tag: UInt64, multiple: Bool, acked: Bool) {
        if multiple {
            guard tag >= floor else { return }
            for sequence in floor...tag { settleOne(sequence, acked: acked) }
            floor = tag + 1
        } else {
            settleOne(tag, acked: acked)
        }
    }

    private mutating func settleOne(_ sequence: UInt64, acked: Bool) {
        guard let slot = pending.removeValue(forKey: sequence) else { return }
        let outcome: AMQPPublishOutcome =
            returned.remove(sequence) != nil ? .returned : acked ? .confirmed : .nacked
        slot.batch.settle(slot.index, outcome)
    }
}
