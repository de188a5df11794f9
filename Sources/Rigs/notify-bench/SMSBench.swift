import ArgumentParser
import Foundation
import StackSupport

/// High-lane SMS latency while a campaign holds the provider at its limit. Twilio's contract fake
/// (`deploy/dev/fakes/twilio_fake.py`) records when it accepted each message; the daemon sends through it at
/// `rate`/s with the high lane's reserved share. The reference is the same high-lane probes sent with no campaign;
/// then `campaign` low-lane SMS are queued and the probes are sent again while it runs. Reports p50 and p99 from
/// publishing a probe to the fake accepting it, both ways, and the campaign's rate meanwhile.
struct SMSBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sms", abstract: "High-lane SMS latency under a campaign at the provider's limit.")

    @OptionGroup var stack: StackOptions
    @Option(help: "The SMS limit, per second.") var rate = 100
    @Option(help: "Low-lane SMS in the campaign.") var campaign = 3_000
    @Option(help: "High-lane probes each way, one every 250 ms.") var probes = 40
    @OptionGroup var daemon: DaemonOverrides

    static let account = "AC" + String(repeating: "0", count: 24) + "be4c1000"

    func run() async throws {
        let token = "bench-\(UUID().uuidString.prefix(8))"
        let fake = try ScriptServer(
            script: "twilio_fake.py", arguments: ["--account-sid", Self.account], environment: ["TWILIO_FAKE_AUTH_TOKEN": token])
        let rules = BenchRig.shippedRules
            .replacingOccurrences(of: #"["in-app", "email"]"#, with: #"["in-app", "sms"]"#)
            .replacingOccurrences(
                of: #""template": "payment-received", "type": "payment", "priority": "normal""#,
                with: #""template": "payment-received", "type": "payment", "priority": "low""#)
        let rig = try await BenchRig(
            stack,
            environment: try BenchRig.rulesEnvironment(rules).merging([
                "NOTIFY_TWILIO_BASE_URL": fake.baseURL, "NOTIFY_TWILIO_ACCOUNT_SID": Self.account, "NOTIFY_TWILIO_AUTH_TOKEN": token,
                "NOTIFY_TWILIO_FROM": "+15005550006", "NOTIFY_TWILIO_RATE_PER_SECOND": String(rate), "NOTIFY_TWILIO_RATE_BURST": "10",
            ]) { $1 }.merging(try daemon.environment) { $1 })
        _ = try await rig.db.withConnection { db in
            try db.copy(
                into: "recipients", columns: ["user_id", "phone"],
                rows: (0..<campaign).map { ["bulk-\($0)", "+1415557\(String(format: "%04d", $0))"] }
                    + (0..<2 * probes).map { ["probe-\($0)", "+1415558\(String(format: "%04d", $0))"] })
        }
        let idle = try await probe(0..<probes, rig: rig, fake: fake)
        try await EventLoad.publish(
            (0..<campaign).map { EmailBench.payment(user: "bulk-\($0)", index: $0, status: "confirmed") }, firstIndex: 0,
            idPrefix: "bulk-", routingKey: "payment.processed", type: "PaymentProcessed", exchange: rig.slot.exchange, lanes: 4,
            publisher: rig.publisher)
        while try await Self.accepted(fake, prefix: "+1415557").count < 3 * rate {
            try await Task.sleep(for: .milliseconds(200))
        }
        let campaignStart = try await Self.accepted(fake, prefix: "+1415557")
        let busy = try await probe(probes..<2 * probes, rig: rig, fake: fake)
        let during = try await Self.accepted(fake, prefix: "+1415557")
        await rig.tearDown()
        let window = (during.last ?? 0) - (campaignStart.last ?? 0)
        let campaignRate = Double(during.count - campaignStart.count) / max(window, 0.001)
        print(String(format: "high-lane SMS, idle: p50 %.0f ms, p99 %.0f ms", percentile(idle, 0.5), percentile(idle, 0.99)))
        print(
            String(
                format: "high-lane SMS under a campaign at %d/s (%.0f/s sent meanwhile, its share %d/s): p50 %.0f ms, p99 %.0f ms",
                rate, campaignRate, rate * 8 / 10, percentile(busy, 0.5), percentile(busy, 0.99)))
        for line in [
            String(format: "RESULT sms_high_idle_p99 %.1f ms", percentile(idle, 0.99)),
            String(format: "RESULT sms_high_under_campaign_p50 %.1f ms", percentile(busy, 0.5)),
            String(format: "RESULT sms_high_under_campaign_p99 %.1f ms", percentile(busy, 0.99)),
            String(format: "RESULT sms_campaign_rate %.1f SMS/s", campaignRate),
        ] { print(line) }
    }

    /// Publishes a failed payment (high lane) for each probe user, one every 250 ms; returns each one's latency
    /// from publishing to the fake accepting its SMS, in milliseconds, sorted.
    private func probe(_ users: Range<Int>, rig: BenchRig, fake: ScriptServer) async throws -> [Double] {
        var published: [String: Double] = [:]
        for index in users {
            published["+1415558\(String(format: "%04d", index))"] = Date().timeIntervalSince1970
            try await EventLoad.publish(
                [EmailBench.payment(user: "probe-\(index)", index: 100_000 + index, status: "failed")], firstIndex: index,
                idPrefix: "probe-", routingKey: "payment.processed", type: "PaymentProcessed", exchange: rig.slot.exchange, lanes: 1,
                publisher: rig.publisher)
            try await Task.sleep(for: .milliseconds(250))
        }
        let deadline = ContinuousClock.now + .seconds(60)
        var accepted: [(String, Double)] = []
        repeat {
            accepted = try await Self.messages(fake).compactMap { message in
                guard let to = message["to"] as? String, published[to] != nil, let at = message["at"] as? Double else { return nil }
                return (to, at)
            }
            if accepted.count < users.count { try await Task.sleep(for: .milliseconds(200)) }
        } while accepted.count < users.count && ContinuousClock.now < deadline
        guard accepted.count == users.count else { throw SupportFailure("\(accepted.count) of \(users.count) probes accepted") }
        return accepted.map { ($0.1 - published[$0.0]!) * 1000 }.sorted()
    }

    static func accepted(_ fake: ScriptServer, prefix: String) async throws -> [Double] {
        try await messages(fake).filter { ($0["to"] as? String)?.hasPrefix(prefix) == true }.compactMap { $0["at"] as? Double }.sorted()
    }

    /// The fake's `/_fake/messages`, fetched with curl.
    static func messages(_ fake: ScriptServer) async throws -> [[String: Any]] {
        let curl = Process()
        let output = Pipe()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "--max-time", "10", "\(fake.baseURL)/_fake/messages"]
        curl.standardOutput = output
        try curl.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        curl.waitUntilExit()
        return try JSONSerialization.jsonObject(with: data) as? [[String: Any]] ?? []
    }
}
