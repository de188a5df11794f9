import AMQP
import Foundation
import Postgres
import StackSupport
import Testing

/// The rows of the fault matrix (`amqp-reliability.md` §4.4) not covered elsewhere, each against the real stack:
/// nothing lost, nothing duplicated, and the daemon recovers by itself.
@Suite("Faults: the daemon rides them out", .needsStack)
struct FaultTests {
    /// Waits until `count` notifications are stored (tolerating a database that is down meanwhile).
    static func waitForStored(_ service: ServiceHarness, _ count: Int, timeout: Duration) async throws -> Int {
        let deadline = ContinuousClock.now + timeout
        var stored = await service.storedCountIfReachable() ?? 0
        while stored < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            stored = await service.storedCountIfReachable() ?? stored
        }
        return stored
    }

    @Test("PostgreSQL stopped for 30 s in the middle of 20,000 events: exactly 20,000 notifications, nothing parked")
    func databaseDown() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let bodies = (0..<20_000).map { Payments.confirmed(user: "outage-\($0 % 100)", index: $0) }
        async let published: Void = service.publish(bodies)
        _ = try await Self.waitForStored(service, 2_000, timeout: .seconds(60))
        try StackControl.stopPostgres()
        try await Task.sleep(for: .seconds(30))
        try StackControl.startPostgres()
        try await published
        let stored = try await Self.waitForStored(service, 20_000, timeout: .seconds(180))
        #expect(stored == 20_000)
        try await Task.sleep(for: .seconds(2))
        #expect(try await service.storedCount() == 20_000, "no duplicates")
        #expect(try await service.parkedCount() == 0, "nothing parked")
        #expect(service.daemon.log.contains("pausing event consumption"), "the consumer is cancelled while the database is away")
        #expect(service.daemon.log.contains("resuming event consumption"))
        #expect(service.daemon.process.isRunning)
    }

    @Test("a statement cancelled with pg_cancel_backend is retried, not parked")
    func cancelledStatement() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        try await service.publish([Payments.confirmed(user: "cancel", index: 0)])
        #expect(try await service.waitForStored(1) == 1)
        // A side session holds the notifications table; the daemon's insert waits on the lock and is cancelled.
        async let held: Void = service.db.withConnection { db in
            try db.transaction { db in
                try db.execute("LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE")
                try db.execute("SELECT pg_sleep(4)")
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        try await service.publish([Payments.confirmed(user: "cancel", index: 1)])
        var cancelled = 0
        let deadline = ContinuousClock.now + .seconds(3)
        while cancelled == 0, ContinuousClock.now < deadline {
            for pid in try await service.daemonBackends(waitingOnLock: true) {
                _ = try await service.admin.withConnection { try $0.query("SELECT pg_cancel_backend(\(pid))") }
                cancelled += 1
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(cancelled >= 1, "the daemon's statement was waiting on the lock")
        try await held
        #expect(try await service.waitForStored(2) == 2)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await service.parkedCount() == 0)
        #expect(service.daemon.log.contains("57014"), "the cancellation was seen and retried")
    }

    @Test("a hung database (a lock held with pg_sleep past the statement timeout) is waited out: all stored, nothing parked")
    func databaseHung() async throws {
        let service = try await ServiceHarness(environment: ["NOTIFY_POSTGRES_STATEMENT_TIMEOUT_MILLISECONDS": "1000"])
        defer { Task { await service.shutDown() } }
        async let held: Void = service.db.withConnection { db in
            try db.transaction { db in
                try db.execute("LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE")
                try db.execute("SELECT pg_sleep(10)")
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        try await service.publish((0..<200).map { Payments.confirmed(user: "hung", index: $0) })
        try await held
        #expect(try await service.waitForStored(200, timeout: .seconds(60)) == 200)
        try await Task.sleep(for: .seconds(1))
        #expect(try await service.storedCount() == 200)
        #expect(try await service.parkedCount() == 0)
        #expect(service.daemon.log.contains("statement timeout") || service.daemon.log.contains("57014"))
    }

    @Test("a broker memory alarm: parking waits for it to clear, then everything is stored or parked exactly once")
    func memoryAlarm() async throws {
        let service = try await ServiceHarness()
        defer {
            _ = try? StackControl.rabbitmqctl("set_vm_memory_high_watermark", "0.4")
            Task { await service.shutDown() }
        }
        // Events wait on the queue while no daemon runs; the alarm blocks every publisher, the daemon's included.
        service.daemon.signal(SIGTERM)
        _ = await service.daemon.waitForExit(timeout: .seconds(15))
        var bodies = (0..<500).map { Payments.confirmed(user: "alarm", index: $0) }
        for index in 0..<5 { bodies.insert(Array(#"{"bad":\#(index)}"#.utf8), at: index * 100 + 50) }
        try await service.publish(bodies)
        #expect(try StackControl.rabbitmqctl("set_vm_memory_high_watermark", "0.0001") == 0)
        try await service.restartDaemon()
        // Consuming goes on until the first event that must be parked; its park waits for the broker.
        #expect(try await eventually(timeout: .seconds(30)) { try await service.storedCount() >= 50 })
        try await Task.sleep(for: .seconds(3))
        #expect(try await service.parkedCount() == 0, "nothing can be parked during the alarm")
        #expect(try StackControl.rabbitmqctl("set_vm_memory_high_watermark", "0.4") == 0)
        #expect(await service.waitForParked(5, timeout: .seconds(60)) == 5, "\(service.daemon.log.suffix(3000))")
        #expect(try await service.waitForStored(500) == 500)
        try await Task.sleep(for: .seconds(2))
        #expect(try await service.parkedCount() == 5, "each parked once")
        #expect(try await service.storedCount() == 500)
        #expect(try await service.client.queueStatus(service.eventsQueue).messageCount == 0)
        #expect(service.daemon.process.isRunning)
    }

    @Test("the events queue deleted while consuming is declared again and consumption resumes")
    func queueDeleted() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        try await service.publish((0..<50).map { Payments.confirmed(user: "deleted", index: $0) })
        #expect(try await service.waitForStored(50) == 50)
        try await service.client.deleteQueue(service.eventsQueue)
        let back = await eventually(timeout: .seconds(30)) {
            (try? await service.client.queueStatus(service.eventsQueue).consumerCount) == 1
        }
        #expect(back, "the daemon declares the queue again and consumes it")
        try await service.publish((50..<100).map { Payments.confirmed(user: "deleted", index: $0) })
        #expect(try await service.waitForStored(100) == 100)
        #expect(service.daemon.log.contains("cancelled consumer"))
    }

    @Test("a dead-letter queue refusing publishes (reject-publish overflow): no parked event is lost or parked twice")
    func deadLetterQueueFull() async throws {
        let service = try await ServiceHarness()
        defer {
            _ = try? StackControl.rabbitmqctl("clear_policy", service.deadLetterPolicy)
            Task { await service.shutDown() }
        }
        #expect(try service.limitDeadLetterQueue(#"{"max-length":1,"overflow":"reject-publish"}"#))
        // Fill the queue to its limit, so the broker refuses (nacks) every parked copy until the policy goes.
        let filler = AMQPOutgoingMessage(
            routingKey: service.deadLetterQueue, body: Array("filler".utf8),
            properties: AMQPProperties(persistent: true))
        #expect(try await service.publisher.publish([filler]) == [.confirmed])
        var bodies = (0..<100).map { Payments.confirmed(user: "full", index: $0) }
        for index in 0..<4 { bodies.insert(Array(#"{"bad":\#(index)}"#.utf8), at: index * 25) }
        try await service.publish(bodies)
        #expect(await eventually { service.daemon.log.contains("the dead-letter queue refused parked copies") })
        // Lifting the limit: RabbitMQ 3.10 keeps a quorum queue's limit when its policy is cleared, so raise it.
        #expect(try service.limitDeadLetterQueue(#"{"max-length":1000000,"overflow":"reject-publish"}"#))
        #expect(await service.waitForParked(5, timeout: .seconds(60)) == 5, "\(service.daemon.log.suffix(3000))")
        #expect(try await service.waitForStored(100) == 100)
        try await Task.sleep(for: .seconds(2))
        let parked = try await service.drainParked(expected: 5).filter { $0.body != filler.body }
        #expect(Set(parked.map(\.body)).count == 4 && parked.count == 4, "each bad event parked exactly once")
        #expect(try await service.client.queueStatus(service.eventsQueue).messageCount == 0)
    }

    @Test("a TCP black hole between daemon and broker: noticed by heartbeats, reconnected, nothing lost or duplicated")
    func blackHole() async throws {
        let brokerPort = URLComponents(string: DaemonProcess.stackEnvironment["NOTIFY_AMQP_URL"]!)?.port ?? 5682
        let proxy = try TCPProxy(targetPort: brokerPort)
        let service = try await ServiceHarness(environment: [
            "NOTIFY_AMQP_URL": "amqp://guest:guest@127.0.0.1:\(proxy.port)/%2f", "NOTIFY_AMQP_HEARTBEAT_SECONDS": "2",
        ])
        defer {
            proxy.stop()
            Task { await service.shutDown() }
        }
        try await service.publish((0..<100).map { Payments.confirmed(user: "hole", index: $0) })
        #expect(try await service.waitForStored(100) == 100)
        proxy.blackHole()
        try await service.publish((100..<200).map { Payments.confirmed(user: "hole", index: $0) })
        let noticed = await service.daemon.waitForLog("lost the broker connection", timeout: .seconds(15))
        #expect(noticed, "missed heartbeats are noticed")
        try await Task.sleep(for: .seconds(5))
        proxy.restore()
        #expect(try await service.waitForStored(200, timeout: .seconds(60)) == 200)
        try await Task.sleep(for: .seconds(2))
        #expect(try await service.storedCount() == 200, "no duplicates")
        #expect(try await service.parkedCount() == 0)
        #expect(try await service.call("GetUserNotifications", ["userId": "hole"]).status == 200)
    }

    @Test(
        "broker nodes: a first node that is down is skipped at start; when the node in use goes, the daemon moves to the next; nothing lost or duplicated"
    )
    func brokerNodes() async throws {
        let brokerPort = URLComponents(string: DaemonProcess.stackEnvironment["NOTIFY_AMQP_URL"]!)?.port ?? 5682
        let proxy = try TCPProxy(targetPort: brokerPort)
        let closed = try freeLoopbackPort()
        // The URL names a node nobody listens on; the proxy stands for a second node, the broker itself for a third.
        let service = try await ServiceHarness(environment: [
            "NOTIFY_AMQP_URL": "amqp://guest:guest@127.0.0.1:\(closed)/%2f",
            "NOTIFY_AMQP_NODES": "127.0.0.1:\(proxy.port),127.0.0.1:\(brokerPort)",
        ])
        defer {
            proxy.stop()
            Task { await service.shutDown() }
        }
        try await service.publish((0..<100).map { Payments.confirmed(user: "nodes", index: $0) })
        #expect(try await service.waitForStored(100) == 100)
        proxy.stop()
        let moved = await service.daemon.waitForLog("reconnected to the broker", timeout: .seconds(15))
        #expect(moved, "\(service.daemon.log.suffix(2000))")
        #expect(service.daemon.log.contains("127.0.0.1:\(brokerPort)"), "it names the node it moved to")
        try await service.publish((100..<200).map { Payments.confirmed(user: "nodes", index: $0) })
        #expect(try await service.waitForStored(200, timeout: .seconds(60)) == 200)
        try await Task.sleep(for: .seconds(2))
        #expect(try await service.storedCount() == 200, "no duplicates")
    }

    @Test("systemd sees READY=1 once consumers are attached and WATCHDOG=1 only while the database threads answer")
    func watchdog() async throws {
        let listener = try NotifySocketListener()
        let service = try await ServiceHarness(environment: ["NOTIFY_SOCKET": listener.path, "WATCHDOG_USEC": "1000000"])
        defer { Task { await service.shutDown() } }
        #expect(await eventually { listener.messages.contains("READY=1") })
        #expect(await eventually { listener.messages.filter { $0 == "WATCHDOG=1" }.count >= 3 })
        // Freeze the daemon's database sessions: its libpq calls hang, as on a hung server.
        let backends = try await service.daemonBackends()
        #expect(!backends.isEmpty)
        for pid in backends { kill(pid_t(pid), SIGSTOP) }
        try await service.publish([Payments.confirmed(user: "frozen", index: 0)])
        try await Task.sleep(for: .seconds(3))
        let lastWhileFrozen = listener.last("WATCHDOG=1")
        for pid in backends { kill(pid_t(pid), SIGCONT) }
        #expect(lastWhileFrozen.map { ContinuousClock.now - $0 > .seconds(1.5) } == true, "the watchdog stopped being fed")
        #expect(service.daemon.log.contains("watchdog: not answering"))
        #expect(await eventually { listener.last("WATCHDOG=1").map { ContinuousClock.now - $0 < .seconds(1) } == true })
        #expect(try await service.waitForStored(1) == 1)
    }
}
