import Foundation
import Postgres
import StackSupport
import Testing

/// An aiosmtpd of a test's own (`deploy/dev/smtp-peer.py`: STARTTLS and AUTH required, a Maildir in a scratch
/// folder), which the test can kill and start again on the same port.
final class SMTPPeer: @unchecked Sendable {
    let port: Int
    let maildir: URL
    private var process: Process?

    init(port: Int) throws {
        self.port = port
        maildir = FileManager.default.temporaryDirectory.appendingPathComponent("maildir-\(UUID().uuidString.prefix(8))")
        try start()
    }

    func start() throws {
        let tls = URL(fileURLWithPath: ProcessInfo.processInfo.environment["NOTIFY_TEST_TLS_CA"] ?? "").deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", repositoryRoot.appendingPathComponent("deploy/dev/smtp-peer.py").path,
            "--port", String(port), "--plain-port", String(port + 1), "--maildir", maildir.path,
            "--cert", tls.appendingPathComponent("server.pem").path, "--key", tls.appendingPathComponent("server.key").path,
        ]
        process.environment = ProcessInfo.processInfo.environment.merging(
            ["SMTP_PEER_PASSWORD": ProcessInfo.processInfo.environment["NOTIFY_TEST_SMTP_PASSWORD"] ?? ""]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<100 where !isListening(onLoopbackPort: port) { Thread.sleep(forTimeInterval: 0.05) }
        guard isListening(onLoopbackPort: port) else { throw SupportFailure("the SMTP peer did not start on \(port)") }
    }

    /// SIGKILL: connections drop mid-transaction, like a crashed server.
    func kill() {
        guard let process else { return }
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(at: maildir)
    }

    /// The Message-IDs of everything received, with repeats.
    var received: [String] { Maildir.messages(to: nil, in: maildir).compactMap { $0.header("Message-ID") } }
}

@Suite("Email under faults: the server away, the daemon killed, a campaign in the way", .needsStack)
struct EmailFaultTests {
    static let sends = 5_000

    /// A harness sending to `peer`, with `count` recipients `user-<i>` registered.
    static func service(_ peer: SMTPPeer, recipients count: Int, environment: [String: String] = [:]) async throws -> ServiceHarness {
        var settings = EmailDeliveryTests.smtpEnvironment
        settings["NOTIFY_EMAIL_PORT"] = String(peer.port)
        let service = try await ServiceHarness(environment: settings.merging(environment) { $1 })
        try await register(count, prefix: "user-", service)
        return service
    }

    static func register(_ count: Int, prefix: String, _ service: ServiceHarness) async throws {
        _ = try await service.db.withConnection { db in
            try db.copy(
                into: "recipients", columns: ["user_id", "email"],
                rows: (0..<count).map { ["\(prefix)\($0)", "\(prefix)\($0)@example.com"] })
        }
    }

    static func sentCount(_ service: ServiceHarness) async throws -> Int {
        try await service.db.withConnection {
            try $0.query("SELECT count(*) FROM deliveries WHERE status = 'sent'")[0].decode(0, as: Int.self)
        }
    }

    /// Waits until `peer` holds `count` distinct messages; returns (distinct, total).
    static func waitForReceived(_ count: Int, _ peer: SMTPPeer, timeout: Duration) async -> (distinct: Int, total: Int) {
        let deadline = ContinuousClock.now + timeout
        var received = peer.received
        while Set(received).count < count, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(500))
            received = peer.received
        }
        return (Set(received).count, received.count)
    }

    @Test("the server down for 60 s during 5,000 sends: every email arrives, repeats only among those in flight, counted")
    func serverDown() async throws {
        let peer = try SMTPPeer(port: 2535)
        let service = try await Self.service(peer, recipients: Self.sends)
        defer { Task { await service.shutDown() } }
        try await service.publish((0..<Self.sends).map { Payments.confirmed(user: "user-\($0)", index: $0) })
        _ = await Self.waitForReceived(Self.sends / 5, peer, timeout: .seconds(120))
        peer.kill()
        let atKill = peer.received.count
        try await Task.sleep(for: .seconds(60))
        try peer.start()
        let (distinct, total) = await Self.waitForReceived(Self.sends, peer, timeout: .seconds(240))
        print(
            "server down 60 s: \(atKill) received before the kill, \(distinct) distinct of \(Self.sends) in the end, \(total - distinct) repeated"
        )
        #expect(distinct == Self.sends)
        #expect(total - distinct <= 8, "repeats only among the messages in flight on the pool's 8 connections")
        #expect(try await Self.sentCount(service) == Self.sends)
        #expect(service.daemon.log.contains("provider is down") && service.daemon.log.contains("provider is back"))
    }

    @Test("the server down longer than a batch is held: the jobs wait in a tier, attempts unspent, and are sent once when it is back")
    func heldPastTheLimit() async throws {
        let peer = try SMTPPeer(port: 2543)
        peer.kill()
        // Breakers that probe every second or two, so the server's return is noticed within the test's wait.
        let service = try await Self.service(
            peer, recipients: 3,
            environment: [
                "NOTIFY_DELIVERY_MAX_PROVIDER_HOLD_SECONDS": "2", "NOTIFY_DELIVERY_BREAKER_OPEN_SECONDS": "1",
                "NOTIFY_DELIVERY_BREAKER_MAX_OPEN_SECONDS": "2",
            ])
        defer { Task { await service.shutDown() } }
        try await service.publish((0..<3).map { Payments.confirmed(user: "user-\($0)", index: $0) })
        let tiered = await eventually(timeout: .seconds(30)) {
            let count = try? await service.db.withConnection { db in
                try db.query(
                    """
                    SELECT count(*) FROM delivery_history WHERE status = 'failed' AND error_code = 'unreachable' AND attempt = 0
                    """)[0].decode(0, as: Int.self)
            }
            return (count ?? 0) >= 3
        }
        #expect(tiered, "every held job went to a tier: \(service.daemon.log.suffix(2000))")
        #expect(service.daemon.log.contains("provider is still down; moving its held deliveries to a retry tier"))
        try peer.start()
        let (distinct, total) = await Self.waitForReceived(3, peer, timeout: .seconds(60))
        #expect(distinct == 3 && total == 3, "each sent once")
        for user in (0..<3).map({ "user-\($0)" }) {
            let email = try await EmailDeliveryTests.delivery(of: user, service, until: "sent")
            #expect(email["attempts"] as? Int == 1, "the outage spent no attempt")
        }
    }

    @Test("SIGKILL of notifyd during 5,000 sends: after the restart every email arrives, repeats only among those in flight, counted")
    func daemonKilled() async throws {
        let peer = try SMTPPeer(port: 2537)
        let service = try await Self.service(peer, recipients: Self.sends)
        defer { Task { await service.shutDown() } }
        try await service.publish((0..<Self.sends).map { Payments.confirmed(user: "user-\($0)", index: $0) })
        _ = await Self.waitForReceived(Self.sends / 5, peer, timeout: .seconds(120))
        service.daemon.signal(SIGKILL)
        _ = await service.daemon.waitForExit(timeout: .seconds(10))
        try await service.restartDaemon()
        let (distinct, total) = await Self.waitForReceived(Self.sends, peer, timeout: .seconds(240))
        print("notifyd killed: \(distinct) distinct of \(Self.sends), \(total - distinct) repeated")
        #expect(distinct == Self.sends)
        // In flight: the batches the workers had claimed (4 workers × 256) and not yet recorded.
        #expect(total - distinct <= 4 * 256)
        #expect(try await Self.sentCount(service) == Self.sends)
    }

    @Test("a high-lane email under a 20,000-message low-lane backlog is sent before the backlog drains")
    func highLaneFirst() async throws {
        let peer = try SMTPPeer(port: 2539)
        let rules = try TestRules(confirmedPriority: "low")
        let backlog = 20_000
        let service = try await Self.service(peer, recipients: backlog, environment: rules.environment)
        defer { Task { await service.shutDown() } }
        try await Self.register(1, prefix: "urgent-", service)
        try await service.publish((0..<backlog).map { Payments.confirmed(user: "user-\($0)", index: $0) })
        // The campaign is ingested (the events queue is one FIFO) and waits in its lane.
        #expect(try await service.waitForStored(backlog, timeout: .seconds(120)) == backlog)
        let lowLane = service.slot.deliveryQueuePrefix + "low"
        let deadline = ContinuousClock.now + .seconds(120)
        while (try? await service.client.queueStatus(lowLane).messageCount) ?? 0 < UInt32(backlog / 4), ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(50))
        }
        let published = ContinuousClock.now
        try await service.publish([Payments.confirmed(user: "urgent-0", index: 1, status: "failed")])
        let urgent = try await EmailDeliveryTests.delivery(of: "urgent-0", service, until: "sent", timeout: .seconds(60))
        let waited = ContinuousClock.now - published
        let lowLeft = try await service.db.withConnection {
            try $0.query("SELECT count(*) FROM deliveries WHERE status <> 'sent' AND user_id LIKE 'user-%'")[0].decode(0, as: Int.self)
        }
        print("high lane under a \(backlog) low-lane backlog: sent \(waited) after publishing, \(lowLeft) low-lane emails still unsent")
        #expect(urgent["status"] as? String == "sent")
        #expect(lowLeft > backlog / 10, "sent long before the backlog drained")
        #expect(waited < .seconds(5))
    }
}
