import AMQP
import ArgumentParser
import Foundation
import Logging
import NotifyCore
import NotifyStore
import Postgres
import Providers
import StackSupport

/// Email, against postfix's `smtp-sink` on loopback (started here):
/// 1. the SMTP client alone (composing and sending over a pool of 8), beside postfix's C load generator
///    `smtp-source -d -s 8` in the same run, with messages of the same size;
/// 2. end to end: PaymentProcessed with the email channel, from publish to every delivery recorded `sent`;
/// 3. priority: high-lane payments published while a low-lane campaign is queued, each timed from publish to
///    its `sent` record (written after the server accepted it).
struct EmailBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "email", abstract: "SMTP client throughput, end-to-end email throughput and high-lane latency.")

    @OptionGroup var stack: StackOptions
    @Option(help: "Port for smtp-sink.") var sinkPort = 2527
    @Option(help: "Messages for the client-alone run (each side).") var messages = 20_000
    @Option(help: "PaymentProcessed events for the end-to-end run.") var events = 50_000
    @Option(help: "Low-lane emails queued for the priority run.") var backlog = 50_000
    @Option(help: "High-lane payments published during it.") var probes = 40

    @OptionGroup var daemon: DaemonOverrides

    enum Part: String, CaseIterable, ExpressibleByArgument { case client, priority, e2e }
    @Option(parsing: .upToNextOption, help: "Which runs to make (client, priority, e2e); all by default.")
    var parts: [Part] = Part.allCases

    func run() async throws {
        let sink = try SMTPSink(port: sinkPort)
        defer { sink.stop() }
        var logger = Logger(label: "notify-bench")
        logger.logLevel = .warning

        let reference = try sink.smtpSource(messages: messages, sessions: 8, size: Self.sampleSize)
        print(String(format: "smtp-source -d -s 8: %d messages of %d bytes, %.0f messages/s", messages, Self.sampleSize, reference))
        var results = [String(format: "RESULT smtp_source_reference %.0f messages/s", reference)]
        if parts.contains(.client) {
            let client = try await clientAlone(logger: logger)
            print(
                String(
                    format: "SMTP client, pool of 8: %d emails (composed and sent), %.0f emails/s (%.0f %% of smtp-source)",
                    messages, client, client / reference * 100))
            results += [
                String(format: "RESULT smtp_client_throughput %.0f emails/s", client),
                String(format: "RESULT smtp_client_vs_reference %.1f %%", client / reference * 100),
            ]
        }
        if parts.contains(.priority) {
            let priority = try await priorityLatency()
            print(
                String(
                    format:
                        "priority: %d high-lane emails under a %d low-lane backlog (%d still queued at the last one): p50 %.0f ms, p99 %.0f ms",
                    probes, backlog, priority.queuedAtEnd, priority.p50, priority.p99))
            results += [
                String(format: "RESULT priority_high_p50 %.1f ms", priority.p50),
                String(format: "RESULT priority_high_p99 %.1f ms", priority.p99),
            ]
        }
        if parts.contains(.e2e) {
            let endToEnd = try await endToEndRate()
            print(
                String(
                    format: "end to end: %d PaymentProcessed → email accepted and recorded sent, %.0f emails/s (%.0f %% of smtp-source)",
                    events, endToEnd.rate, endToEnd.rate / reference * 100))
            results += [
                String(format: "RESULT email_end_to_end %.0f emails/s", endToEnd.rate),
                String(format: "RESULT email_end_to_end_peak_rss %.1f MB", endToEnd.rss),
            ]
        }
        for line in results { print(line) }
    }

    /// The size of the message the client sends (smtp-source sends the same number of bytes).
    static var sampleSize: Int { composer.compose(job(0), to: "user-0@example.com", date: Date()).count }
    static let composer = EmailComposer(fromAddress: "notifications@flowmart.example", fromName: "FlowMart")

    static func job(_ index: Int) -> DeliveryJob {
        DeliveryJob(
            deliveryID: UUID().uuidString.lowercased(), notificationID: UUID().uuidString.lowercased(), userID: "user-\(index)",
            channel: .email, lane: .normal, transactional: true,
            content: MessageContent(
                subject: "Payment received for order order-\(index)",
                text:
                    "Hello,\n\nWe received your payment of $\(index % 500).99 for order order-\(index).\nTransaction: tx-\(index)\n\nThank you for shopping with FlowMart.",
                html:
                    "<!DOCTYPE html>\n<html><body>\n<p>Hello,</p>\n<p>We received your payment of <strong>$\(index % 500).99</strong> for order <strong>order-\(index)</strong>.<br>\nTransaction: tx-\(index)</p>\n<p>Thank you for shopping with FlowMart.</p>\n</body></html>"
            ))
    }

    private func clientAlone(logger: Logger) async throws -> Double {
        var settings = SMTPSettings(host: "127.0.0.1", port: sinkPort)
        settings.tls = .none
        settings.poolSize = 8
        let provider = SMTPEmailProvider(client: try SMTPClient(settings: settings, logger: logger), composer: Self.composer)
        let batch = 256
        let claimed = (0..<messages).map { ClaimedDelivery(job: Self.job($0), address: "user-\($0)@example.com", attempt: 1) }
        _ = await provider.send(Array(claimed.prefix(64)))  // connect the pool outside the timing
        let started = ContinuousClock.now
        let accepted = await withTaskGroup(of: Int.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    var accepted = 0
                    for start in stride(from: worker * batch, to: claimed.count, by: batch * 4) {
                        let results = await provider.send(Array(claimed[start..<min(start + batch, claimed.count)]))
                        accepted += results.filter { if case .sent = $0 { true } else { false } }.count
                    }
                    return accepted
                }
            }
            return await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - started
        await provider.shutdown()
        guard accepted == messages else { throw SupportFailure("smtp-sink accepted \(accepted) of \(messages)") }
        return Double(messages) / elapsed.seconds
    }

    /// The daemon's settings for email through the sink, with `rules`.
    private func daemonEnvironment(rules: String) throws -> [String: String] {
        try BenchRig.rulesEnvironment(rules).merging([
            "NOTIFY_EMAIL_HOST": "127.0.0.1", "NOTIFY_EMAIL_PORT": String(sinkPort), "NOTIFY_EMAIL_TLS": "none",
            "NOTIFY_EMAIL_FROM": "notifications@flowmart.example",
        ]) { $1 }.merging(try daemon.environment) { $1 }
    }

    private func endToEndRate() async throws -> (rate: Double, rss: Double) {
        let rig = try await BenchRig(stack, environment: try daemonEnvironment(rules: BenchRig.shippedRules))
        try await Self.registerRecipients(events, prefix: "user-", db: rig.db)
        let bodies = (0..<events).map { Self.payment(user: "user-\($0)", index: $0, status: "confirmed") }
        let started = ContinuousClock.now
        try await EventLoad.publish(
            bodies, firstIndex: 0, idPrefix: "e2e-", routingKey: "payment.processed", type: "PaymentProcessed",
            exchange: rig.slot.exchange, lanes: 4, publisher: rig.publisher)
        try await Self.waitForSent(events, db: rig.db, timeout: .seconds(600))
        let rate = Double(events) / (ContinuousClock.now - started).seconds
        let rss = rig.peakRSSMegabytes
        await rig.tearDown()
        return (rate, rss)
    }

    private func priorityLatency() async throws -> (p50: Double, p99: Double, queuedAtEnd: Int) {
        // Receipts on the low lane: the campaign; failed payments stay on the high lane.
        let rules = BenchRig.shippedRules.replacingOccurrences(
            of: #""template": "payment-received", "type": "payment", "priority": "normal""#,
            with: #""template": "payment-received", "type": "payment", "priority": "low""#)
        let rig = try await BenchRig(stack, environment: try daemonEnvironment(rules: rules))
        try await Self.registerRecipients(backlog, prefix: "user-", db: rig.db)
        try await Self.registerRecipients(probes, prefix: "probe-", db: rig.db)
        // The campaign is queued while the mail server cannot be reached (the workers hold what they took, spending
        // no attempt), so it is all in the low lane when the daemon comes back to the sink and the first urgent
        // email is published.
        try await rig.restartDaemon(overriding: ["NOTIFY_EMAIL_PORT": String(sinkPort + 1)])
        try await EventLoad.publish(
            (0..<backlog).map { Self.payment(user: "user-\($0)", index: $0, status: "confirmed") }, firstIndex: 0, idPrefix: "low-",
            routingKey: "payment.processed", type: "PaymentProcessed", exchange: rig.slot.exchange, lanes: 4, publisher: rig.publisher)
        let lowLane = rig.slot.deliveryQueuePrefix + "low"
        let queuedBy = ContinuousClock.now + .seconds(300)
        while true {
            let unconsumed = try await rig.publisher.queueStatus(rig.slot.eventsQueue).messageCount
            if unconsumed == 0, try await Self.unrelayed(db: rig.db) == 0 { break }
            guard ContinuousClock.now < queuedBy else { throw SupportFailure("the campaign was not queued in time") }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await rig.restartDaemon()
        var published: [String: Date] = [:]
        for index in 0..<probes {
            let user = "probe-\(index)"
            published[user] = Date()
            try await EventLoad.publish(
                [Self.payment(user: user, index: index, status: "failed")], firstIndex: index, idPrefix: "high-",
                routingKey: "payment.processed", type: "PaymentProcessed", exchange: rig.slot.exchange, lanes: 1, publisher: rig.publisher)
            try await Task.sleep(for: .milliseconds(50))
        }
        let queuedAtEnd = Int(try await rig.publisher.queueStatus(lowLane).messageCount)
        let deadline = ContinuousClock.now + .seconds(120)
        var sent: [String: Date] = [:]
        while sent.count < probes, ContinuousClock.now < deadline {
            sent = try await rig.db.withConnection { try Census.sentTimes(usersPrefixed: "probe-", on: $0) }
            try await Task.sleep(for: .milliseconds(100))
        }
        await rig.tearDown()
        guard sent.count == probes else { throw SupportFailure("only \(sent.count) of \(probes) high-lane emails were sent") }
        let latencies = published.map { user, at in sent[user]!.timeIntervalSince(at) * 1000 }.sorted()
        return (percentile(latencies, 0.5), percentile(latencies, 0.99), queuedAtEnd)
    }

    static func payment(user: String, index: Int, status: String) -> [UInt8] {
        Array(
            """
            {"transactionId":"tx-\(index)","userId":"\(user)","orderId":"order-\(index)",\
            "amount":\(index % 500).99,"currency":"USD","status":"\(status)","timestamp":"2026-11-21T10:00:00Z"}
            """.utf8)
    }

    static func registerRecipients(_ count: Int, prefix: String, db: PGPool) async throws {
        for start in stride(from: 0, to: count, by: 50_000) {
            _ = try await db.withConnection { connection in
                try connection.copy(
                    into: "recipients", columns: ["user_id", "email"],
                    rows: (start..<min(start + 50_000, count)).map {
                        ["\(prefix)\($0)", "\(prefix)\($0)@example.com"]
                    })
            }
        }
    }

    /// Outbox rows not yet published (delivery jobs not yet on their lane).
    static func unrelayed(db: PGPool) async throws -> Int {
        try await db.withConnection { try Census.unrelayed(on: $0) }
    }

    static func waitForSent(_ count: Int, db: PGPool, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while try await db.withConnection({ try Census.sentDeliveries(on: $0) }) < count {
            guard ContinuousClock.now < deadline else { throw SupportFailure("not every email was sent in time") }
            try await Task.sleep(for: .milliseconds(200))
        }
    }
}

/// postfix's `smtp-sink` on loopback, discarding what it receives, and its load generator `smtp-source`.
final class SMTPSink {
    let port: Int
    private let process = Process()

    /// - Parameter dumpDirectory: where to write each message it receives (one file each, so its modification time
    ///   is when it arrived); nothing is kept without it.
    init(port: Int, dumpDirectory: URL? = nil) throws {
        self.port = port
        process.executableURL = URL(fileURLWithPath: "/usr/sbin/smtp-sink")
        process.arguments = ["-u", "nobody"] + (dumpDirectory.map { ["-d", $0.path + "/%H%M%S/"] } ?? []) + ["127.0.0.1:\(port)", "1024"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if isListening(onLoopbackPort: port) { return }
            Thread.sleep(forTimeInterval: 0.05)
        }
        throw SupportFailure("smtp-sink did not start on port \(port) (is postfix installed?)")
    }

    /// SIGKILL: the sink keeps nothing, and it does not always end on SIGTERM once it has served sessions.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    /// Messages per second `smtp-source` sends over `sessions` reused connections.
    func smtpSource(messages: Int, sessions: Int, size: Int) throws -> Double {
        let source = Process()
        source.executableURL = URL(fileURLWithPath: "/usr/sbin/smtp-source")
        source.arguments = [
            "-d", "-s", String(sessions), "-m", String(messages), "-l", String(size),
            "-f", "notifications@flowmart.example", "-t", "user@example.com", "127.0.0.1:\(port)",
        ]
        source.standardOutput = FileHandle.nullDevice
        source.standardError = FileHandle.nullDevice
        let started = ContinuousClock.now
        try source.run()
        source.waitUntilExit()
        guard source.terminationStatus == 0 else { throw SupportFailure("smtp-source failed") }
        return Double(messages) / (ContinuousClock.now - started).seconds
    }
}
