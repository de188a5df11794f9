import Foundation
import Logging
import StackSupport
import Synchronization
import Testing

@testable import Providers

/// The SMTP pool against the stack's plain aiosmtpd (`make test` exports its port), behind a TCP proxy that can
/// drop everything (an outage the client sees as silence), and against a port where nothing listens.
@Suite("The SMTP pool frees every session and never holds more than its size", .needsStack)
struct SMTPPoolTests {
    static func client(port: Int, poolSize: Int, idleTimeout: Duration = .seconds(60)) throws -> SMTPClient {
        var settings = SMTPSettings(host: "127.0.0.1", port: port)
        settings.tls = .none
        settings.poolSize = poolSize
        settings.idleTimeout = idleTimeout
        settings.replyTimeout = .seconds(1)
        settings.connectTimeout = .seconds(1)
        var logger = Logger(label: "smtp-pool")
        logger.logLevel = .critical
        return try SMTPClient(settings: settings, logger: logger)
    }

    static var smtpPort: Int {
        get throws {
            try #require(
                ProcessInfo.processInfo.environment["NOTIFY_TEST_SMTP_PLAIN_PORT"].flatMap { Int($0) },
                "run through make test, which starts the SMTP peer")
        }
    }

    static func envelopes(_ count: Int, _ tag: String) -> [SMTPEnvelope] {
        (0..<count).map {
            SMTPEnvelope(
                sender: "notifications@flowmart.example", recipient: "\(tag)-\($0)@example.com",
                message: Array("Subject: \(tag)\r\n\r\nbody\r\n".utf8), needsSMTPUTF8: false)
        }
    }

    static func accepted(_ outcomes: [SMTPOutcome]) -> Int {
        outcomes.filter { if case .accepted = $0 { true } else { false } }.count
    }

    @Test("sessions opened, used and closed by the idle timeout, then shut down: every handler is freed")
    func sessionsFreed() async throws {
        let client = try Self.client(port: try Self.smtpPort, poolSize: 6, idleTimeout: .seconds(1))
        for round in 0..<3 {
            #expect(Self.accepted(await client.send(Self.envelopes(24, "freed-\(round)"))) == 24)
            #expect(client.handlers.value > 0)
            let idle = await eventually(timeout: .seconds(10)) { client.handlers.value == 0 }
            #expect(idle, "round \(round): \(client.handlers.value) handlers alive after the sessions quit idle")
        }
        #expect(Self.accepted(await client.send(Self.envelopes(6, "freed-last"))) == 6)
        await client.shutdown()
        let freed = await eventually(timeout: .seconds(10)) { client.handlers.value == 0 }
        #expect(freed, "\(client.handlers.value) handlers alive after shutdown")
    }

    @Test("failed connects, refused and timed out at the greeting: every handler is freed")
    func failedConnectsFreed() async throws {
        let nobody = try Self.client(port: try freeLoopbackPort(), poolSize: 4)
        for _ in 0..<10 { #expect(Self.accepted(await nobody.send(Self.envelopes(4, "refused"))) == 0) }
        let proxy = try TCPProxy(targetPort: try Self.smtpPort)
        defer { proxy.stop() }
        proxy.blackHole()
        let silent = try Self.client(port: proxy.port, poolSize: 4)
        for _ in 0..<3 { #expect(Self.accepted(await silent.send(Self.envelopes(4, "silent"))) == 0) }
        let freed = await eventually(timeout: .seconds(10)) { nobody.handlers.value == 0 && silent.handlers.value == 0 }
        #expect(freed, "alive: \(nobody.handlers.value) after refused connects, \(silent.handlers.value) after silent servers")
    }

    @Test("after an outage, 16 workers sending at once: the pool holds at most its 3 sessions, and every email goes")
    func boundedAfterOutage() async throws {
        let proxy = try TCPProxy(targetPort: try Self.smtpPort)
        defer { proxy.stop() }
        let client = try Self.client(port: proxy.port, poolSize: 3)
        #expect(Self.accepted(await client.send(Self.envelopes(3, "before"))) == 3)
        proxy.blackHole()
        // The sessions time out, and so does every new one while the network drops everything.
        #expect(Self.accepted(await client.send(Self.envelopes(3, "during"))) == 0)
        proxy.restore()
        let most = Atomic(0)
        let sampler = Task {
            while !Task.isCancelled {
                most.max(client.held, ordering: .relaxed)
                try? await Task.sleep(for: .milliseconds(1))
            }
        }
        let sent = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<16 { group.addTask { Self.accepted(await client.send(Self.envelopes(8, "after-\(worker)"))) } }
            return await group.reduce(0, +)
        }
        sampler.cancel()
        most.max(client.held, ordering: .relaxed)
        #expect(sent == 16 * 8)
        #expect(most.load(ordering: .relaxed) <= 3, "the pool held \(most.load(ordering: .relaxed)) sessions")
        #expect(client.handlers.value <= 3, "\(client.handlers.value) session handlers alive")
        await client.shutdown()
    }
}
