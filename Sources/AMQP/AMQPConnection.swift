import Foundation
import Logging
import Synchronization

/// A self-healing AMQP 0-9-1 connection with one channel, owned by a dedicated thread.
///
/// After `connect()` succeeds the connection stays up on its own: on any failure it reconnects with exponential
/// backoff and jitter, declares again everything declared through it, resumes every consumer, and publishes again
/// whatever was not yet confirmed. Settling a delivery that came on an earlier incarnation of the connection is a
/// no-op (the broker has requeued it already).
///
/// Use one connection for consuming (and RPC replies) and another, with `confirmMode`, for publishing: a broker
/// resource alarm blocks publishing connections, and consumers must keep running through it.
public final class AMQPConnection: Sendable {
    private let loop: ConnectionLoop

    /// - Parameters:
    ///   - confirmMode: put the channel in publisher-confirm mode; required for `publish(_:timeout:)`.
    public init(configuration: AMQPConfiguration, confirmMode: Bool, logger: Logger) {
        var logger = logger
        logger[metadataKey: "amqp.connection"] = "\(configuration.connectionName)"
        loop = ConnectionLoop(configuration: configuration, confirmMode: confirmMode, logger: logger)
    }

    /// Opens the first connection. Fails, without retrying, when the broker cannot be reached or refuses the
    /// login: a daemon should report that and exit rather than start half-connected.
    public func connect() async throws(AMQPError) {
        try await loop.start()
    }

    /// Closes the connection after waiting (briefly) for outstanding confirms. Consumers' sequences end.
    public func close() async {
        await withCheckedContinuation { loop.submit(.close($0)) }
    }

    /// Returns once the connection's thread has picked up a command: a liveness check for a watchdog. It does not
    /// return while the thread is stuck (in a write the broker never drains, say).
    public func ping() async {
        await withCheckedContinuation { loop.submit(.ping($0)) }
    }

    /// True while a session is open; false between a failure and the next successful reconnect.
    public var isConnected: Bool { loop.status.withLock { $0.connected } }
    /// True while the broker blocks publishing on this connection (memory or disk alarm).
    public var isBlocked: Bool { loop.status.withLock { $0.blocked } }
    /// Increments on every (re)connect; deliveries carry the generation they arrived on.
    var generation: UInt64 { loop.status.withLock { $0.generation } }

    // MARK: - Topology

    /// Declares exchanges, queues and bindings (idempotently) and remembers them for every reconnect.
    public func declare(_ topology: AMQPTopology) async throws(AMQPError) {
        try await loop.request { .declare(topology, $0) }
    }

    /// Passive declare: depth and consumers of an existing queue; `.operationRefused` (404) when it does not exist.
    public func queueStatus(_ queue: String) async throws(AMQPError) -> AMQPQueueStatus {
        try await loop.request { .queueStatus(queue, $0) }
    }

    /// Drops every ready message of `queue`; returns how many.
    @discardableResult
    public func purge(_ queue: String) async throws(AMQPError) -> UInt32 {
        try await loop.request { .purge(queue, $0) }
    }

    public func deleteQueue(_ queue: String) async throws(AMQPError) {
        try await loop.request { .deleteQueue(queue, $0) }
    }

    // MARK: - Consuming

    /// Starts a pull consumer of `queue` with manual acks (unless `noAck`) and at most `prefetch` unsettled
    /// deliveries. Deliveries are handed over in batches (`next(max:)`): everything that arrived since the last
    /// call, so a consumer that commits per batch (group commit) gets a larger batch the longer its last commit
    /// took.
    /// - Parameter bodyLimit: how much body is read into memory; nil reads every body whole.
    public func consume(
        queue: String, prefetch: UInt16, noAck: Bool = false, bodyLimit: AMQPBodyLimit? = nil
    ) async throws(AMQPError) -> AMQPConsumer {
        try await consume(
            queue: queue, prefetch: prefetch, noAck: noAck, bodyLimit: bodyLimit, consumer: AMQPConsumer(tag: newConsumerTag()))
    }

    /// The handler form: `handler` receives each delivery on the connection's own thread, in order, and must
    /// return at once (hand the work to another thread). No task is scheduled per delivery.
    public func consume(
        queue: String, prefetch: UInt16, bodyLimit: AMQPBodyLimit? = nil,
        handler: @escaping @Sendable (AMQPDelivery) -> Void
    ) async throws(AMQPError) -> AMQPConsumer {
        try await consume(
            queue: queue, prefetch: prefetch, noAck: false, bodyLimit: bodyLimit,
            consumer: AMQPConsumer(tag: newConsumerTag(), handler: handler))
    }

    /// Stops new deliveries. Deliveries already received are still handed over before the consumer finishes, so
    /// they can be processed and acked: the first step of a graceful drain.
    public func cancel(_ consumer: AMQPConsumer) async throws(AMQPError) {
        try await loop.request { .cancel(consumer.tag, $0) }
    }

    /// Settles deliveries as `settlement` says, in one turn of the connection's thread. Settlements of
    /// deliveries from an earlier connection are dropped (the broker requeued those when it went).
    public func settle(_ settlement: AMQPSettlement) {
        loop.submit(settlement.operations.map(ConnectionLoop.Command.settle))
    }

    /// Acknowledges `delivery` (and, with `multiple`, every earlier unsettled one of this connection).
    public func ack(_ delivery: AMQPDelivery, multiple: Bool = false) {
        settle(.single(delivery, .ack(multiple: multiple)))
    }

    public func nack(_ delivery: AMQPDelivery, multiple: Bool = false, requeue: Bool) {
        settle(.single(delivery, .nack(multiple: multiple, requeue: requeue)))
    }

    public func reject(_ delivery: AMQPDelivery, requeue: Bool) {
        settle(.single(delivery, .reject(requeue: requeue)))
    }

    func submit(_ commands: [ConnectionLoop.Command]) { loop.submit(commands) }

    /// Consumes an RPC reply queue (no-ack), handing each reply to the call waiting for it.
    func consumeReplies(queue: String) async throws(AMQPError) {
        let loop = loop
        _ = try await consume(
            queue: queue, prefetch: 0, noAck: true, bodyLimit: nil,
            consumer: AMQPConsumer(tag: "rpc-replies.\(UUID().uuidString.prefix(8))") { loop.completeCall($0) })
    }

    /// Publishes `request` and waits for the delivery with `correlationID` on a reply consumer, until `deadline`.
    func call(
        _ request: AMQPOutgoingMessage, correlationID: String, deadline: ContinuousClock.Instant
    ) async throws(AMQPError) -> AMQPDelivery {
        let result = await withCheckedContinuation { continuation in
            loop.submit(.call(request, .init(correlationID: correlationID, deadline: deadline, continuation: continuation)))
        }
        return try result.get()
    }

    private func consume(
        queue: String, prefetch: UInt16, noAck: Bool, bodyLimit: AMQPBodyLimit?, consumer: AMQPConsumer
    ) async throws(AMQPError) -> AMQPConsumer {
        let spec = ConnectionState.Consumer(
            tag: consumer.tag, queue: queue, prefetch: prefetch, noAck: noAck, bodyLimit: bodyLimit, consumer: consumer)
        try await loop.request { .consume(spec, $0) }
        return consumer
    }

    private func newConsumerTag() -> String {
        "\(loop.configuration.connectionName).\(UUID().uuidString.prefix(8))"
    }

    // MARK: - Publishing

    /// Publishes `messages` and waits until the broker has confirmed each one, or `timeout` passes.
    ///
    /// Messages not confirmed when the connection drops are published again after the reconnect, within the same
    /// timeout. A `.timedOut` outcome means unknown: during a broker alarm no confirm arrives at all, and after
    /// `close()` every message is reported `.timedOut`. Cancelling the calling task ends the wait the same way.
    /// - Throws: `.invalidConfiguration` on a connection without `confirmMode`.
    public func publish(_ messages: [AMQPOutgoingMessage], timeout: Duration = .seconds(5))
        async throws(AMQPError) -> [AMQPPublishOutcome]
    {
        guard loop.confirmMode else {
            throw AMQPError(.invalidConfiguration, "publish with confirms needs a connection in confirm mode")
        }
        let deadline = ContinuousClock.now + timeout
        let abandoned = Mutex<PublishBatch?>(nil)
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let batch = PublishBatch(messages: messages, deadline: deadline, continuation: continuation)
                abandoned.withLock { $0 = batch }
                loop.submit(.publish(batch))
                if Task.isCancelled { loop.submit(.abandon(batch)) }
            }
        } onCancel: {
            // A cancelled caller stops waiting: what is unconfirmed is reported `.timedOut` (outcome unknown).
            if let batch = abandoned.withLock({ $0 }) { loop.submit(.abandon(batch)) }
        }
    }

    /// Publishes without waiting for a confirm: for RPC replies, which are ephemeral by design.
    public func send(_ message: AMQPOutgoingMessage) {
        loop.submit(.send(message))
    }
}
