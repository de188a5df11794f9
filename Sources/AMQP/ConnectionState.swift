import Resilience

/// Everything the owner thread of a connection knows besides the C session, as a value with no I/O: consumers
/// and their body budgets, publisher confirms and publish batches, settlements and their incarnation, RPC calls
/// waiting for replies, and the reconnect schedule. `ConnectionLoop` does the I/O and asks this state what to do;
/// the tests drive it without a broker.
struct ConnectionState {
    /// A consumer the connection resumes after every reconnect.
    struct Consumer: Sendable {
        let tag: String
        let queue: String
        let prefetch: UInt16
        let noAck: Bool
        /// Nil: every body is read.
        let bodyLimit: AMQPBodyLimit?
        let consumer: AMQPConsumer
    }

    /// An RPC request waiting for the reply with its correlation id.
    struct PendingCall: Sendable {
        let correlationID: String
        let deadline: ContinuousClock.Instant
        /// The reply, or why there is none: `.timeout`, a lost connection, or a closed one.
        let continuation: CheckedContinuation<Result<AMQPDelivery, AMQPError>, Never>
    }

    /// What to do when the broker cancels a consumer.
    enum CancelAction: Equatable {
        /// A queue this connection declared went away: reconnecting declares it again and resumes every consumer.
        case reconnect
        /// Not ours to recreate: the consumer was forgotten and its sequence ended.
        case forgotten
        case unknown
    }

    let confirmMode: Bool
    /// Which incarnation of the connection is current; deliveries carry the one they came from.
    private(set) var generation: UInt64 = 0
    /// Everything declared through the connection, declared again on every reconnect.
    private(set) var topology = AMQPTopology()
    private(set) var consumers: [Consumer] = []
    /// Publish batches not yet finished, oldest first.
    private(set) var batches: [PublishBatch] = []
    private var confirms = ConfirmTracker()
    private var calls: [String: PendingCall] = [:]
    /// Bodies larger than their consumer's ordinary limit that were read and are not yet settled, by delivery tag
    /// (of the current incarnation): they count against the consumer's oversized budget.
    private var oversized: [UInt64: (consumerTag: String, size: Int)] = [:]
    private var backoff: Backoff
    private let backoffBounds: (initial: Duration, maximum: Duration)

    init(confirmMode: Bool, reconnectInitialDelay: Duration, reconnectMaxDelay: Duration) {
        self.confirmMode = confirmMode
        backoffBounds = (reconnectInitialDelay, reconnectMaxDelay)
        backoff = Backoff(initial: reconnectInitialDelay, maximum: reconnectMaxDelay)
    }

    // MARK: - Sessions

    /// A session opened (its topology declared and consumers resumed): a new incarnation. Returns the batches to
    /// publish again on it; buffered deliveries of earlier incarnations are dropped from the consumers.
    mutating func opened() -> [PublishBatch] {
        generation += 1
        confirms.reset()
        refusingSince = nil
        backoff.reset()
        for consumer in consumers { consumer.consumer.discard(before: generation) }
        return batches.filter { !$0.isFinished }
    }

    /// The session was lost: confirms and held bodies belong to it. The broker requeues its unacked deliveries.
    mutating func lost() {
        confirms.reset()
        oversized.removeAll()
    }

    /// How long to wait before the next reconnect attempt.
    mutating func reconnectDelay() -> Duration {
        backoff.next()
    }

    // MARK: - Topology and consumers

    mutating func declared(_ declared: AMQPTopology) {
        topology = topology.merging(declared)
    }

    mutating func deleted(queue name: String) {
        topology.queues.removeAll { $0.name == name }
        topology.bindings.removeAll { $0.queue == name }
    }

    mutating func add(_ consumer: Consumer) {
        consumers.append(consumer)
    }

    func consumer(_ tag: String) -> Consumer? {
        consumers.first { $0.tag == tag }
    }

    /// Forgets a consumer and ends its sequence (after whatever it was already handed).
    mutating func remove(_ tag: String) {
        guard let index = consumers.firstIndex(where: { $0.tag == tag }) else { return }
        consumers.remove(at: index).consumer.finish()
    }

    mutating func brokerCancelled(_ tag: String) -> CancelAction {
        guard let consumer = consumer(tag) else { return .unknown }
        if topology.queues.contains(where: { $0.name == consumer.queue }) { return .reconnect }
        remove(tag)
        return .forgotten
    }

    /// Whether a delivery's body is read: within the consumer's ordinary limit, or within what is left of its
    /// oversized budget (which the delivery then holds until it is settled).
    mutating func acceptBody(consumerTag: String, deliveryTag: UInt64, size: Int) -> Bool {
        guard let limit = consumer(consumerTag)?.bodyLimit else { return true }
        if size <= limit.ordinary { return true }
        guard size <= limit.oversizedBudget - oversizedHeld(by: consumerTag) else { return false }
        oversized[deliveryTag] = (consumerTag, size)
        return true
    }

    // MARK: - Settlement

    /// Whether `operation` goes to the broker: only for the current incarnation (the broker requeued the others).
    /// A settled delivery (with `multiple`, every earlier one too) no longer holds oversized budget.
    mutating func settle(_ operation: AMQPSettlement.Operation) -> Bool {
        guard operation.generation == generation else { return false }
        if !oversized.isEmpty {
            if operation.kind.isMultiple {
                oversized = oversized.filter { $0.key > operation.tag }
            } else {
                oversized.removeValue(forKey: operation.tag)
            }
        }
        return true
    }

    /// Bytes of oversized bodies held by `consumerTag`'s unsettled deliveries.
    func oversizedHeld(by consumerTag: String) -> Int {
        oversized.values.reduce(0) { $0 + ($1.consumerTag == consumerTag ? $1.size : 0) }
    }

    // MARK: - Publishing

    mutating func enqueue(_ batch: PublishBatch) {
        batches.append(batch)
    }

    /// The messages of `batch` still unconfirmed, registered for confirms in the order they must be published.
    mutating func publishing(_ batch: PublishBatch) -> [AMQPOutgoingMessage] {
        batch.unsettledIndices.map { index in
            confirms.register(batch, index: index)
            return batch.messages[index]
        }
    }

    /// A publish nobody waits for (a reply, a request) still takes a sequence number on a confirm-mode channel.
    mutating func publishingUnconfirmed() {
        if confirmMode { confirms.skip() }
    }

    /// Since when every confirm on this session has been a nack; nil once one is an ack.
    private(set) var refusingSince: ContinuousClock.Instant?
    /// How long a session may refuse every publish before it is reopened.
    static let refusalLimit: Duration = .seconds(3)

    /// Applies a confirm. Returns true when the session has refused every publish for `refusalLimit`: a channel
    /// opened on a node while a quorum queue's leader was being elected keeps nacking for good (RabbitMQ 3.10; a
    /// fresh channel publishes fine), so such a session is to be reopened rather than trusted.
    @discardableResult
    mutating func confirm(tag: UInt64, multiple: Bool, acked: Bool, at now: ContinuousClock.Instant = .now) -> Bool {
        confirms.settle(tag: tag, multiple: multiple, acked: acked)
        batches.removeAll { $0.isFinished }
        if acked {
            refusingSince = nil
            return false
        }
        let since = refusingSince ?? now
        refusingSince = since
        return now - since >= Self.refusalLimit
    }

    mutating func returned(exchange: String, routingKey: String, messageID: String?) {
        confirms.markReturned(exchange: exchange, routingKey: routingKey, messageID: messageID)
    }

    /// Its caller stopped waiting: what is unconfirmed is reported `.timedOut` now.
    mutating func abandon(_ batch: PublishBatch) {
        batch.finish()
        batches.removeAll { $0.isFinished }
    }

    // MARK: - RPC calls

    mutating func call(_ call: PendingCall) {
        calls[call.correlationID] = call
    }

    /// The call a reply answers; nil for one nobody waits for any more (timed out), which is dropped.
    mutating func reply(_ reply: AMQPDelivery) -> PendingCall? {
        reply.properties.correlationID.flatMap { calls.removeValue(forKey: $0) }
    }

    // MARK: - Timers and shutdown

    /// Finishes batches past their deadline (unconfirmed messages are `.timedOut`) and returns the calls past
    /// theirs, for the loop to fail.
    mutating func expire(now: ContinuousClock.Instant) -> [PendingCall] {
        for batch in batches where batch.deadline <= now { batch.finish() }
        batches.removeAll { $0.isFinished }
        let expired = calls.values.filter { $0.deadline <= now }
        for call in expired { calls.removeValue(forKey: call.correlationID) }
        return expired
    }

    /// The earliest batch or call deadline: the loop wakes up for it.
    var nextDeadline: ContinuousClock.Instant? {
        (batches.map(\.deadline) + calls.values.map(\.deadline)).min()
    }

    /// Ends everything at close: batches finish (unconfirmed is `.timedOut`), consumers' sequences end; returns the
    /// calls to fail.
    mutating func close() -> [PendingCall] {
        for batch in batches { batch.finish() }
        batches.removeAll()
        for consumer in consumers { consumer.consumer.finish() }
        consumers.removeAll()
        defer { calls.removeAll() }
        return Array(calls.values)
    }
}
