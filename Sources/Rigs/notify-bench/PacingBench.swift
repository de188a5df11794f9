import ArgumentParser
import Foundation
import StackSupport

/// Pacing accuracy: `daemons` release daemons share one email limit of `rate`/s (burst `burst`) for about
/// `seconds`, sending to postfix's `smtp-sink`, which writes each message to a file of its own; the files'
/// modification times are when each email arrived. Reports the rate achieved against the limit, the most sends in
/// any second and in any one interval of the limit (a burst), and that every email arrived once.
struct PacingBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pacing", abstract: "Accuracy of a rate limit shared by several daemons.")

    @OptionGroup var stack: StackOptions
    @Option(help: "Port for smtp-sink.") var sinkPort = 2529
    @Option(help: "The email limit, per second.") var rate = 100
    @Option(help: "Its burst.") var burst = 10
    @Option(help: "How long the run lasts at the limit.") var seconds = 60
    @Option(help: "Daemons sharing the limit.") var daemons = 2

    func run() async throws {
        let dump = FileManager.default.temporaryDirectory.appendingPathComponent("pacing-\(UUID().uuidString.prefix(8))")
        // smtp-sink drops to `nobody` before it writes there.
        try FileManager.default.createDirectory(at: dump, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        defer { try? FileManager.default.removeItem(at: dump) }
        let sink = try SMTPSink(port: sinkPort, dumpDirectory: dump)
        defer { sink.stop() }
        let environment = try BenchRig.rulesEnvironment(BenchRig.shippedRules).merging([
            "NOTIFY_EMAIL_HOST": "127.0.0.1", "NOTIFY_EMAIL_PORT": String(sinkPort), "NOTIFY_EMAIL_TLS": "none",
            "NOTIFY_EMAIL_FROM": "notifications@flowmart.example",
            "NOTIFY_EMAIL_RATE_PER_SECOND": String(rate), "NOTIFY_EMAIL_RATE_BURST": String(burst),
            // The whole limit for these (normal-lane) receipts; the high lane's share is measured by the tests.
            "NOTIFY_DELIVERY_HIGH_LANE_RESERVE_PERCENT": "0",
        ]) { $1 }
        let rig = try await BenchRig(stack, environment: environment)
        var others: [DaemonProcess] = []
        for _ in 1..<daemons { others.append(try await rig.startAnotherDaemon()) }
        let events = rate * seconds + burst
        try await EmailBench.registerRecipients(events, prefix: "paced-", db: rig.db)
        try await EventLoad.publish(
            (0..<events).map { EmailBench.payment(user: "paced-\($0)", index: $0, status: "confirmed") }, firstIndex: 0,
            idPrefix: "paced-", routingKey: "payment.processed", type: "PaymentProcessed", exchange: rig.slot.exchange, lanes: 4,
            publisher: rig.publisher)
        let deadline = ContinuousClock.now + .seconds(seconds * 2 + 60)
        var times = Self.arrivals(in: dump)
        while times.count < events, ContinuousClock.now < deadline {
            try await Task.sleep(for: .seconds(1))
            times = Self.arrivals(in: dump)
        }
        for daemon in others { daemon.stop() }
        await rig.tearDown()
        guard times.count == events else { throw SupportFailure("smtp-sink received \(times.count) of \(events) emails") }

        // After the first burst, one email per interval: (events − burst) intervals from the first to the last.
        let achieved = Double(events - burst) / (times.last! - times.first!)
        let interval = 1 / Double(rate)
        var perSecond = 0, perInterval = 0
        var end = 0
        for (start, time) in times.enumerated() {
            while end < times.count, times[end] < time + 1 { end += 1 }
            perSecond = max(perSecond, end - start)
        }
        end = 0
        for (start, time) in times.enumerated() {
            while end < times.count, times[end] < time + interval { end += 1 }
            perInterval = max(perInterval, end - start)
        }
        print(
            String(
                format:
                    "pacing: %d emails through %d daemons at a shared limit of %d/s (burst %d): %.2f/s achieved (%+.2f %%); at most %d in any second, %d in any %.0f ms",
                events, daemons, rate, burst, achieved, (achieved / Double(rate) - 1) * 100, perSecond, perInterval, interval * 1000))
        print(String(format: "RESULT pacing_achieved_rate %.2f emails/s", achieved))
        print(String(format: "RESULT pacing_error %.2f %%", (achieved / Double(rate) - 1) * 100))
        print("RESULT pacing_max_per_second \(perSecond) emails")
        print("RESULT pacing_max_per_interval \(perInterval) emails")
    }

    /// When each dumped message was written (one folder per second of arrival, a file per message), sorted.
    static func arrivals(in folder: URL) -> [Double] {
        let files = FileManager.default.enumerator(
            at: folder, includingPropertiesForKeys: [.contentModificationDateKey, .isRegularFileKey])
        return (files?.allObjects as? [URL] ?? []).compactMap { file in
            let values = try? file.resourceValues(forKeys: [.contentModificationDateKey, .isRegularFileKey])
            return values?.isRegularFile == true ? values?.contentModificationDate?.timeIntervalSince1970 : nil
        }.sorted()
    }
}
