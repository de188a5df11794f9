import CRabbitMQ
import Foundation
import Logging
import Synchronization

/// The owner thread of one AMQP connection.
///
/// librabbitmq is not thread-safe and services heartbeats only inside its own calls, so exactly one thread touches
/// the C connection: it runs commands posted to its `ConnectionMailbox`, reads frames, sends heartbeats and
/// reconnects, and asks its `ConnectionState` (the bookkeeping, without I/O) what each event means. Swift callers
/// post commands and await continuations; they never block a cooperative thread. The thread sleeps in the
/// mailbox's `poll` on the socket and an eventfd, so a command is picked up at once.
final class ConnectionLoop: @unchecked Sendable {
    typealias Reply<Value> = CheckedContinuation<Result<Value, AMQPError>, Never>

    struct Status: Sendable {
        var connected = false
        var blocked = false
        var generation: UInt64 = 0
    }

    let configuration: AMQPConfiguration
    let confirmMode: Bool
    private let logger: Logger
    private let mailbox = ConnectionMailbox<Command>()
    let status = Mutex(Status())

    // MARK: Owner-thread state. Never touched from any other thread.
    private var session: CSession?
    private var state: ConnectionState
    private var closeRequests: [CheckedContinuation<Void, Never>] = []
    private var closeDeadline: ContinuousClock.Instant?
    private var reconnectAttempt = 0
    private var reconnectAt: ContinuousClock.Instant = .now
    /// Which of the configuration's endpoints the next session opens on: it moves on after a failed open and after
    /// a lost session, so a node that is gone costs one attempt, not every one.
    private var endpointIndex = 0

    /// How long a close waits for outstanding publisher confirms before it gives up on them.
    private static let closeDrainTimeout: Duration = .seconds(3)
    /// Upper bound on one `poll`: timers (confirm deadlines, reconnects, heartbeats) are checked this often.
    private static let maxSleep: Duration = .milliseconds(250)
    /// Frames handled before the mailbox is looked at again, so acks and replies are not starved by a backlog.
    private static let framesPerTurn = 1024

    init(configuration: AMQPConfiguration, confirmMode: Bool, logger: Logger) {
        self.configuration = configuration
        self.confirmMode = confirmMode
        self.logger = logger
        state = ConnectionState(
            confirmMode: confirmMode, reconnectInitialDelay: configuration.reconnectInitialDelay,
            reconnectMaxDelay: configuration.reconnectMaxDelay)
    }

    /// Starts the owner thread and waits for the first connection. A failure here is final: the thread ends and
    /// the error is returned, so a daemon can refuse to start with a clear message.
    func start() async throws(AMQPError) {
        guard mailbox.open() else { throw AMQPError(.invalidConfiguration, "connect() was called twice") }
        let result: Result<Void, AMQPError> = await withCheckedContinuation { continuation in
            let thread = Thread { [self] in self.threadMain(firstConnect: continuation) }
            thread.name = "amqp-\(configuration.connectionName)"
            thread.start()
        }
        try result.get()
    }

    /// Posts a command; if the thread has ended, the command fails at once with `.closed`.
    func submit(_ command: Command) {
        submit([command])
    }

    /// Posts commands together: they run in order in one turn of the thread, after a single wake-up.
    func submit(_ commands: [Command]) {
        guard mailbox.post(commands) else {
            for command in commands { command.fail(AMQPError(.closed, "the connection is closed")) }
            return
        }
    }

    func request<Value>(_ make: (Reply<Value>) -> Command) async throws(AMQPError) -> Value {
        let result: Result<Value, AMQPError> = await withCheckedContinuation { continuation in
            submit(make(continuation))
        }
        return try result.get()
    }

    // MARK: - Thread

    private func threadMain(firstConnect: Reply<Void>) {
        // Every node once: the first connection fails only when none of them answers.
        var failure: AMQPError?
        for _ in configuration.endpoints.indices {
            do {
                try openSession()
                failure = nil
                break
            } catch {
                failure = error
            }
        }
        if let failure {
            mailbox.close().forEach { $0.fail(AMQPError(.closed, "the connection never opened")) }
            firstConnect.resume(returning: .failure(failure))
            return
        }
        firstConnect.resume(returning: .success(()))
        runLoop()
    }

    private func runLoop() {
        while true {
            for command in mailbox.take() { execute(command) }

            if !closeRequests.isEmpty, state.batches.isEmpty || ContinuousClock.now >= closeDeadline! {
                shutDown()
                return
            }
            if session == nil {
                if ContinuousClock.now >= reconnectAt { reconnect() }
                if session == nil {
                    sleep(socket: nil, until: reconnectAt)
                    continue
                }
            }
            let moreWaiting = pumpInbound()
            for call in state.expire(now: .now) {
                call.continuation.resume(returning: .failure(AMQPError(.timeout, "no reply within the call's timeout")))
            }
            if moreWaiting || session?.hasQueuedFrames == true { continue }
            sleep(socket: session?.socketFD, until: state.nextDeadline)
        }
    }

    private func sleep(socket: Int32?, until deadline: ContinuousClock.Instant?) {
        mailbox.sleep(socket: socket, until: deadline, maxSleep: Self.maxSleep)
    }

    // MARK: - Commands

    private func execute(_ command: Command) {
        if case .close(let continuation) = command {
            closeRequests.append(continuation)
            closeDeadline = closeDeadline ?? .now + Self.closeDrainTimeout
            return
        }
        if case .ping(let continuation) = command {
            continuation.resume()
            return
        }
        if case .abandon(let batch) = command {
            state.abandon(batch)
            return
        }
        if case .publish(let batch) = command {
            state.enqueue(batch)
            if let session { send(batch, on: session) }
            return
        }
        if session == nil, case .cancel(let tag, let reply) = command {
            // Nothing to cancel on the broker; forgetting the consumer keeps the reconnect from resuming it.
            state.remove(tag)
            reply.resume(returning: .success(()))
            return
        }
        guard let session else {
            // Deliveries of a lost connection are requeued by the broker: a stale settlement is dropped, and a
            // fire-and-forget reply has nobody waiting for it on this side.
            command.fail(AMQPError(.connectionLost, "not connected to the broker; retry after reconnect"))
            return
        }
        do {
            try run(command, on: session)
        } catch {
            command.fail(error)
            lose(error)
        }
    }

    /// A command that needs the broker, on the session.
    private func run(_ command: Command, on session: CSession) throws(AMQPError) {
        switch command {
        case .declare(let declared, let reply):
            try session.declare(declared)
            state.declared(declared)
            reply.resume(returning: .success(()))
        case .queueStatus(let name, let reply):
            reply.resume(returning: .success(try session.queueStatus(name)))
        case .purge(let name, let reply):
            reply.resume(returning: .success(try session.purge(name)))
        case .deleteQueue(let name, let reply):
            try session.deleteQueue(name)
            state.deleted(queue: name)
            reply.resume(returning: .success(()))
        case .consume(let spec, let reply):
            try session.consume(queue: spec.queue, tag: spec.tag, prefetch: spec.prefetch, noAck: spec.noAck)
            state.add(spec)
            reply.resume(returning: .success(()))
        case .cancel(let tag, let reply):
            try session.cancel(tag: tag)
            // Deliveries sent before cancel-ok were queued by librabbitmq during the call: hand them over
            // before the consumer's stream ends, so they are processed and acked rather than requeued.
            while self.session != nil, session.hasQueuedFrames { _ = pumpInbound() }
            state.remove(tag)
            reply.resume(returning: .success(()))
        case .settle(let operation):
            guard state.settle(operation) else {
                logger.debug("dropping a settlement from an earlier connection", metadata: ["amqp.delivery_tag": "\(operation.tag)"])
                return
            }
            switch operation.kind {
            case .ack(let multiple): try session.ack(operation.tag, multiple: multiple)
            case .nack(let multiple, let requeue): try session.nack(operation.tag, multiple: multiple, requeue: requeue)
            case .reject(let requeue): try session.reject(operation.tag, requeue: requeue)
            }
        case .send(let message):
            state.publishingUnconfirmed()
            try session.publish(message)
        case .call(let message, let call):
            state.call(call)
            state.publishingUnconfirmed()
            try session.publish(message)
        case .publish, .abandon, .close, .ping:
            break
        }
    }

    private func send(_ batch: PublishBatch, on session: CSession) {
        do {
            for message in state.publishing(batch) { try session.publish(message) }
        } catch {
            lose(error)
        }
    }

    // MARK: - Inbound

    /// Reads what is available now. Returns true when it stopped at its frame budget, so more may be waiting in
    /// librabbitmq's buffer where `poll` cannot see it.
    private func pumpInbound() -> Bool {
        var exhausted = true
        var delivered: Set<String> = []
        defer { for consumer in state.consumers where delivered.contains(consumer.tag) { consumer.consumer.flush() } }
        for _ in 0..<Self.framesPerTurn {
            guard let session else { return false }
            let inbound: CSession.Inbound?
            do {
                inbound = try session.readFrame { consumerTag, deliveryTag, size in
                    state.acceptBody(consumerTag: consumerTag, deliveryTag: deliveryTag, size: size)
                }
            } catch {
                lose(error)
                return false
            }
            guard let inbound else {
                exhausted = false
                break
            }
            switch inbound {
            case .delivery(let tag, let redelivered, let exchange, let routingKey, let consumerTag, let properties, let body):
                guard let consumer = state.consumer(consumerTag) else {
                    try? session.reject(tag, requeue: true)
                    continue
                }
                delivered.insert(consumerTag)
                let (bytes, omitted): ([UInt8], Int?) =
                    switch body {
                    case .read(let bytes): (bytes, nil)
                    case .omitted(let size): ([], size)
                    }
                consumer.consumer.deliver(
                    AMQPDelivery(
                        generation: state.generation, deliveryTag: tag, redelivered: redelivered, exchange: exchange,
                        routingKey: routingKey, consumerTag: consumerTag, properties: properties, body: bytes,
                        omittedBodySize: omitted))
            case .confirm(let tag, let multiple, let acked):
                if state.confirm(tag: tag, multiple: multiple, acked: acked) {
                    lose(
                        AMQPError(
                            .connectionLost,
                            "the broker has refused every publish on this channel for \(ConnectionState.refusalLimit); reopening it"))
                    return false
                }
            case .cancelled(let consumerTag):
                switch state.brokerCancelled(consumerTag) {
                case .reconnect:
                    // A queue we declared went away (deleted, or its node failed). Reconnecting declares it again
                    // and resumes every consumer: the one recovery path this loop has.
                    lose(AMQPError(.connectionLost, "the broker cancelled consumer \(consumerTag)"))
                    return false
                case .forgotten:
                    // Not ours to recreate: its sequence ended, and its owner decides.
                    logger.warning("the broker cancelled a consumer", metadata: ["amqp.consumer": "\(consumerTag)"])
                case .unknown:
                    break
                }
            case .blocked(let blocked):
                status.withLock { $0.blocked = blocked }
                if blocked {
                    logger.warning("broker blocked publishing on this connection (resource alarm)")
                } else {
                    logger.info("broker unblocked publishing on this connection")
                }
            case .returned(let exchange, let routingKey, let messageID):
                state.returned(exchange: exchange, routingKey: routingKey, messageID: messageID)
            case .other:
                break
            }
        }
        session?.releaseBuffers()
        return exhausted
    }

    /// Hands a reply to the call waiting for it; a reply nobody waits for any more (timed out) is dropped.
    /// Runs on the owner thread, as the reply consumer's handler.
    func completeCall(_ reply: AMQPDelivery) {
        state.reply(reply)?.continuation.resume(returning: .success(reply))
    }

    // MARK: - Connection lifecycle

    /// The endpoint the next session opens on.
    private var endpoint: AMQPEndpoint {
        let endpoints = configuration.endpoints
        return endpoints[endpointIndex % endpoints.count]
    }

    private func openSession() throws(AMQPError) {
        let fresh: CSession
        do {
            fresh = try CSession(configuration: configuration, endpoint: endpoint, confirmMode: confirmMode)
            try fresh.declare(state.topology)
            for consumer in state.consumers {
                try fresh.consume(queue: consumer.queue, tag: consumer.tag, prefetch: consumer.prefetch, noAck: consumer.noAck)
            }
        } catch {
            endpointIndex += 1
            throw error
        }
        session = fresh
        reconnectAttempt = 0
        let unconfirmed = state.opened()
        let generation = state.generation
        status.withLock {
            $0.connected = true
            $0.blocked = false
            $0.generation = generation
        }
        for batch in unconfirmed { send(batch, on: fresh) }
    }

    private func reconnect() {
        do {
            try openSession()
            logger.info("reconnected to the broker", metadata: ["amqp.generation": "\(state.generation)", "amqp.endpoint": "\(endpoint)"])
        } catch {
            reconnectAttempt += 1
            scheduleReconnect()
            logger.warning(
                "reconnect failed",
                metadata: ["amqp.error": "\(error)", "amqp.attempt": "\(reconnectAttempt)"])
        }
    }

    /// Drops the session after any error. The broker requeues its unacked deliveries; unconfirmed publishes are
    /// sent again on the next session (their outcome on the old one is unknown, so the consumer must dedupe).
    private func lose(_ error: AMQPError) {
        guard session != nil else { return }
        session = nil
        // The node may be the one that went: try the next first.
        endpointIndex += 1
        state.lost()
        status.withLock { $0.connected = false }
        logger.warning("lost the broker connection", metadata: ["amqp.error": "\(error)"])
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        reconnectAt = .now + state.reconnectDelay()
    }

    private func shutDown() {
        if let session {
            for consumer in state.consumers { try? session.cancel(tag: consumer.tag) }
            session.close()
        }
        session = nil
        for call in state.close() {
            call.continuation.resume(returning: .failure(AMQPError(.closed, "the connection is closed")))
        }
        status.withLock { $0.connected = false }
        for command in mailbox.close() { command.fail(AMQPError(.closed, "the connection is closed")) }
        for request in closeRequests { request.resume() }
        closeRequests.removeAll()
    }
}
