import AMQP
import Foundation
import Logging
import NotifyCore
import Postgres
import StackSupport

/// One isolated service under test: its own database, events exchange, queues and `notifyd` process, so tests
/// cannot see each other's events. Talks to the daemon only as FlowMart services would: over RabbitMQ.
final class ServiceHarness: @unchecked Sendable {
    let slot: IsolatedStack
    /// Everything the daemon is started with: the slot's names and database, and the test's overrides.
    let environment: [String: String]
    private(set) var daemon: DaemonProcess
    /// How many times `supervise` restarted a daemon that had died.
    private(set) var restarts = 0
    let db: PGPool
    let publisher: AMQPConnection
    let client: AMQPConnection
    let rpc: AMQPRPCClient

    var id: String { slot.id }
    var admin: PGPool { slot.admin }
    var exchange: String { slot.exchange }
    var eventsQueue: String { slot.eventsQueue }
    var rpcQueue: String { slot.rpcQueue }
    var deadLetterQueue: String { slot.deadLetterQueue }

    static var logger: Logger {
        var logger = Logger(label: "harness")
        logger.logLevel = .error
        return logger
    }

    init(environment: [String: String] = [:]) async throws {
        slot = try await IsolatedStack(
            prefix: "test", amqpURL: StackURLs.amqp, postgresURL: StackURLs.testPostgres, logger: Self.logger)
        db = try slot.database(logger: Self.logger)

        var amqp = try AMQPConfiguration(url: StackURLs.amqp)
        amqp.connectionName = "harness-publisher"
        publisher = AMQPConnection(configuration: amqp, confirmMode: true, logger: Self.logger)
        try await publisher.connect()
        amqp.connectionName = "harness-client"
        client = AMQPConnection(configuration: amqp, confirmMode: false, logger: Self.logger)
        try await client.connect()
        rpc = try await AMQPRPCClient(connection: client)

        // Refusals are written to the audit trail every second instead of every minute, for the tests that read them.
        self.environment = slot.daemonEnvironment.merging(["NOTIFY_AUDIT_REFUSAL_WINDOW_SECONDS": "1"]) { $1 }.merging(environment) { $1 }
        daemon = try DaemonProcess(environment: self.environment)
        guard await daemon.waitForLog("ready") else { throw SupportFailure("notifyd did not get ready: \(daemon.log)") }
    }

    /// Starts a fresh daemon process (after the previous one exited or was killed), with the same environment.
    func restartDaemon() async throws {
        daemon = try DaemonProcess(environment: environment)
        guard await daemon.waitForLog("ready") else { throw SupportFailure("notifyd did not get ready: \(daemon.log)") }
    }

    /// Keeps a daemon running as systemd's `Restart=on-failure` would (restarting one that died), until
    /// `condition` holds or `timeout` passes; returns whether it held.
    func supervise(timeout: Duration = .seconds(120), until condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            if !daemon.process.isRunning {
                restarts += 1
                daemon = try DaemonProcess(environment: environment)
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        return try await condition()
    }

    // MARK: - Talking to the service

    /// Publishes PaymentProcessed bodies as the payment service would; returns when the broker confirmed them.
    func publish(
        _ bodies: [[UInt8]], messageIDs: [String?]? = nil, routingKey: String = "payment.processed",
        exchange: String? = nil
    ) async throws {
        let messages = bodies.enumerated().map { index, body in
            AMQPOutgoingMessage(
                exchange: exchange ?? self.exchange, routingKey: routingKey, body: body,
                properties: AMQPProperties(
                    contentType: "application/json", headers: ["version": "1.0.0"], persistent: true,
                    messageID: messageIDs.map { $0[index] } ?? UUID().uuidString, type: "PaymentProcessed"))
        }
        for start in stride(from: 0, to: messages.count, by: 500) {
            let outcomes = try await publisher.publish(Array(messages[start..<min(start + 500, messages.count)]), timeout: .seconds(30))
            guard outcomes.allSatisfy({ $0 == .confirmed }) else { throw SupportFailure("publish not confirmed") }
        }
    }

    struct Reply {
        var status: Int64
        var body: [String: Any]
        var headers: [String: AMQPFieldValue]
        var raw: Any
    }

    /// What a test call presents as its `x-api-key`.
    enum Credential {
        case admin
        case key(String)
        case none
    }

    /// Sends one RPC command, with the admin credential unless told otherwise.
    func call(_ type: String, _ body: [String: Any], as credential: Credential = .admin, timeout: Duration = .seconds(5)) async throws
        -> Reply
    {
        let headers: [String: AMQPFieldValue] =
            switch credential {
            case .admin: [RPCEnvelope.apiKeyHeader: .string(slot.adminKey)]
            case .key(let key): [RPCEnvelope.apiKeyHeader: .string(key)]
            case .none: [:]
            }
        let reply = try await rpc.call(
            queue: rpcQueue, type: type, body: Array(try JSONSerialization.data(withJSONObject: body)),
            headers: headers, timeout: timeout)
        let raw = try JSONSerialization.jsonObject(with: Data(reply.body))
        guard let status = reply.properties.headers[RPCEnvelope.statusHeader]?.integer else {
            throw SupportFailure("reply without status")
        }
        return Reply(status: Int64(status), body: raw as? [String: Any] ?? [:], headers: reply.properties.headers, raw: raw)
    }

    /// Notifications stored, counted in the database directly (the oracle, independent of the RPC path).
    func storedCount() async throws -> Int {
        try await db.withConnection { try $0.query("SELECT count(*) FROM notifications")[0].decode(0, as: Int.self) }
    }

    func waitForStored(_ expected: Int, timeout: Duration = .seconds(60)) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        var count = try await storedCount()
        while count < expected, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            count = try await storedCount()
        }
        return count
    }

    /// The refusals in the audit trail, counted by `"<action> <outcome> <actor>"`, once at least `expected` are written
    /// (they are written a window at a time; the harness's daemons write theirs every second).
    func refusals(atLeast expected: Int, timeout: Duration = .seconds(10)) async throws -> [String: Int] {
        let deadline = ContinuousClock.now + timeout
        while true {
            let counted = try await db.withConnection { db in
                try db.query(
                    """
                    SELECT action || ' ' || outcome || ' ' || actor, sum(count)::bigint FROM audit_events
                    WHERE outcome LIKE 'refused:%' GROUP BY 1
                    """
                ).map { (try $0.decode(0, as: String.self), try $0.decode(1, as: Int.self)) }
            }
            let refusals = Dictionary(counted) { $0 + $1 }
            if refusals.values.reduce(0, +) >= expected || ContinuousClock.now > deadline { return refusals }
            try await Task.sleep(for: .milliseconds(200))
        }
    }

    /// Why a parked message was parked (`x-dead-letter-reason`), or nil.
    static func reason(_ delivery: AMQPDelivery) -> String? {
        if case .string(let reason)? = delivery.properties.headers["x-dead-letter-reason"] { return reason }
        return nil
    }

    /// Messages waiting on the dead-letter queue, counted without taking them.
    func parkedCount() async throws -> UInt32 {
        try await client.queueStatus(deadLetterQueue).messageCount
    }

    /// Waits until at least `expected` messages wait on the dead-letter queue (which may not exist yet).
    func waitForParked(_ expected: UInt32, timeout: Duration = .seconds(30)) async -> UInt32 {
        let deadline = ContinuousClock.now + timeout
        var count = (try? await parkedCount()) ?? 0
        while count < expected, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(100))
            count = (try? await parkedCount()) ?? 0
        }
        return count
    }

    /// Parked messages, drained from the dead-letter queue: `expected` of them, or what came within `timeout`.
    func drainParked(expected: Int, timeout: Duration = .seconds(30)) async throws -> [AMQPDelivery] {
        let consumer = try await client.consume(queue: deadLetterQueue, prefetch: 1000)
        // The wait ends at the deadline even when fewer arrive: cancelling the consumer ends its stream, so a test
        // whose daemon never parked fails here instead of waiting for ever.
        let client = client
        let deadline = Task {
            try await Task.sleep(for: timeout)
            try await client.cancel(consumer)
        }
        var parked: [AMQPDelivery] = []
        var iterator = consumer.makeAsyncIterator()
        while parked.count < expected {
            guard let delivery = await iterator.next() else { break }
            parked.append(delivery)
            client.ack(delivery)
        }
        deadline.cancel()
        _ = await deadline.result
        try? await client.cancel(consumer)  // already cancelled if the deadline came first
        return parked
    }

    /// The policy `limitDeadLetterQueue` sets; a test clears it (`rabbitmqctl clear_policy`) when it ends.
    var deadLetterPolicy: String { "test-\(id)-dlq-full" }

    /// Sets this slot's dead-letter queue's length limit (`{"max-length":1,"overflow":"reject-publish"}`: full at
    /// one message, then every parked copy is refused) by a policy, which reaches the quorum queue a moment later.
    func limitDeadLetterQueue(_ definition: String) throws -> Bool {
        try StackControl.rabbitmqctl(
            "set_policy", "--apply-to", "queues", deadLetterPolicy, "^\(deadLetterQueue.replacingOccurrences(of: ".", with: "\\."))$",
            definition) == 0
    }

    /// Stops the daemon and removes everything this harness created.
    func shutDown() async {
        daemon.signal(SIGTERM)
        _ = await daemon.waitForExit(timeout: .seconds(15))
        let lanes = ["high", "normal", "low"].map { slot.deliveryQueuePrefix + $0 }
        let tiers = Set(RetryPolicy().distinctDelays.map(RetryPolicy.tierName) + (1...5).map { "\($0)s" }).map {
            slot.deliveryQueuePrefix + "retry." + $0
        }
        for queue in [eventsQueue, rpcQueue, deadLetterQueue] + lanes + tiers { try? await client.deleteQueue(queue) }
        await client.close()
        await publisher.close()
        await db.close()
        await slot.tearDown()
    }
}

/// PaymentProcessed bodies for tests.
enum Payments {
    static let catalogExample = Array(
        """
        {"transactionId": "123e4567-e89b-12d3-a456-426614174000", "userId": "123e4567-e89b-12d3-a456-426614174000",
         "orderId": "789e1234-b56c-78d9-e012-3456789fghij", "amount": 100.50, "paymentMethod": "CreditCard",
         "status": "confirmed", "confirmationDetails": {"gatewayResponse": "Approved", "transactionId": "abc123"},
         "timestamp": "2024-07-04T14:48:00Z"}
        """.utf8)

    static func confirmed(user: String, index: Int, status: String = "confirmed") -> [UInt8] {
        Array(
            """
            {"transactionId":"tx-\(index)-\(UUID().uuidString.prefix(8))","userId":"\(user)","orderId":"order-\(index)",\
            "amount":\(index).25,"currency":"USD","status":"\(status)","timestamp":"2026-11-21T10:00:00Z"}
            """.utf8)
    }
}
