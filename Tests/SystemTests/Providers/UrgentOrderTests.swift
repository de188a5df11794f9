import Foundation
import Logging
import Testing

@testable import Providers

/// Against the stack's plain aiosmtpd (`make test` exports its port).
@Suite("The SMTP pool sends an urgent message before the bulk already queued", .needsStack)
struct UrgentOrderTests {
    @Test("one session holding 300 bulk messages sends an urgent one next, not last")
    func urgentFirst() async throws {
        let port = try #require(
            ProcessInfo.processInfo.environment["NOTIFY_TEST_SMTP_PLAIN_PORT"].flatMap { Int($0) },
            "run through make test, which starts the SMTP peer")
        var settings = SMTPSettings(host: "127.0.0.1", port: port)
        settings.tls = .none
        settings.poolSize = 1
        var logger = Logger(label: "urgent-order")
        logger.logLevel = .error
        let client = try SMTPClient(settings: settings, logger: logger)
        func envelope(_ name: String, urgent: Bool) -> SMTPEnvelope {
            SMTPEnvelope(
                sender: "notifications@flowmart.example", recipient: "\(name)@example.com",
                message: Array("Subject: \(name)\r\n\r\nbody\r\n".utf8), needsSMTPUTF8: false, urgent: urgent)
        }
        _ = await client.send([envelope("warm-up", urgent: false)])  // the session is open before the race
        let clock = ContinuousClock()
        let started = clock.now
        let bulk = Task { await client.send((0..<300).map { envelope("bulk-\($0)", urgent: false) }) }
        try await Task.sleep(for: .milliseconds(20))
        let urgent = await client.send([envelope("urgent", urgent: true)])
        let urgentTook = clock.now - started
        let bulkOutcomes = await bulk.value
        let bulkTook = clock.now - started
        await client.shutdown()
        #expect(urgent.allSatisfy { if case .accepted = $0 { true } else { false } })
        #expect(bulkOutcomes.allSatisfy { if case .accepted = $0 { true } else { false } })
        #expect(urgentTook < bulkTook / 4, "urgent after \(urgentTook), the bulk after \(bulkTook)")
    }
}
