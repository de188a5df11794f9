import Foundation
import Postgres
import StackSupport
import Testing

/// The SMS limit, as the catalog sets it, held by several daemons together and never at the cost of the high lane.
@Suite("SMS pacing: one Twilio limit for every daemon, the high lane's share", .needsStack)
struct SMSPacingTests {
    /// When the fake accepted each message to a number starting `prefix`, sorted.
    static func acceptTimes(_ fake: TwilioFake, prefix: String) async throws -> [Double] {
        try await fake.messages().filter { ($0["to"] as? String)?.hasPrefix(prefix) == true }.compactMap { $0["at"] as? Double }.sorted()
    }

    static func waitForAccepted(_ count: Int, _ fake: TwilioFake, prefix: String, timeout: Duration = .seconds(60)) async throws -> [Double]
    {
        var times = try await acceptTimes(fake, prefix: prefix)
        let deadline = ContinuousClock.now + timeout
        while times.count < count, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            times = try await acceptTimes(fake, prefix: prefix)
        }
        return times
    }

    @Test("two daemons sharing 100 SMS/s send 300 SMS at 100/s together, not 200, each once")
    func sharedByTwoDaemons() async throws {
        let fake = try TwilioFake()
        let rules = try TestRules(channels: ["in-app", "sms"])
        // No share kept for the high lane, so the normal lane may use the whole limit.
        let service = try await SMSDeliveryTests.service(
            fake, rules: rules,
            [
                "NOTIFY_TWILIO_RATE_PER_SECOND": "100", "NOTIFY_TWILIO_RATE_BURST": "10", "NOTIFY_DELIVERY_HIGH_LANE_RESERVE_PERCENT": "0",
            ])
        defer { Task { await service.shutDown() } }
        let second = try DaemonProcess(
            environment: service.environment.merging(["NOTIFY_HTTP_PORT": String(try freeLoopbackPort())]) { $1 })
        defer { second.stop() }
        #expect(await second.waitForLog("ready"))

        let count = 300
        try await SMSDeliveryTests.register((0..<count).map { ("paced-\($0)", "+1415556\(String(format: "%04d", $0))") }, service)
        try await service.publish((0..<count).map { Payments.confirmed(user: "paced-\($0)", index: $0) })
        let times = try await Self.waitForAccepted(count, fake, prefix: "+1415556")
        #expect(times.count == count, "every SMS accepted, and once")
        let distinct = Set(try await fake.messages().compactMap { $0["to"] as? String })
        #expect(distinct.count == count)
        // 300 at 100/s with a burst of 10: the last cannot go before (300 − 10) / 100 = 2.9 s after the first.
        let span = (times.last ?? 0) - (times.first ?? 0)
        #expect(span >= 2.8, "paced: \(span) s from first to last")
        #expect(span < 3.6, "and at the limit, not below it: \(span) s")
        var busiest = 0
        for (i, start) in times.enumerated() { busiest = max(busiest, times[i...].prefix { $0 < start + 1 }.count) }
        // Released: at most burst + rate in any second. Arriving: a round held up on its way (the two cores shared by
        // two daemons, the broker, PostgreSQL and the fake) lands with the next one, so one more burst at most.
        #expect(busiest <= 100 + 2 * 10, "at most rate + two bursts arrive in any second: \(busiest)")
        print("two daemons, 100 SMS/s: \(count) in \(span) s, busiest second \(busiest)")
    }

    @Test("2,000 low-lane SMS at the limit do not delay a high-lane SMS beyond the reserved share")
    func highLaneUnderACampaign() async throws {
        let fake = try TwilioFake()
        let rules = try TestRules(channels: ["in-app", "sms"], confirmedPriority: "low")
        let service = try await SMSDeliveryTests.service(
            fake, rules: rules,
            [
                "NOTIFY_TWILIO_RATE_PER_SECOND": "100", "NOTIFY_TWILIO_RATE_BURST": "10",
            ])
        defer { Task { await service.shutDown() } }
        let campaign = 2_000
        try await SMSDeliveryTests.register(
            (0..<campaign).map { ("bulk-\($0)", "+1415557\(String(format: "%04d", $0))") } + [("urgent", "+14155580000")], service)
        try await service.publish((0..<campaign).map { Payments.confirmed(user: "bulk-\($0)", index: $0) })
        // The campaign holds the provider at its bulk share (80/s) for a while.
        _ = try await Self.waitForAccepted(300, fake, prefix: "+1415557")
        let published = Date().timeIntervalSince1970
        try await service.publish([Payments.confirmed(user: "urgent", index: 1, status: "failed")])
        let urgent = try await Self.waitForAccepted(1, fake, prefix: "+1415558", timeout: .seconds(30))
        let waited = (urgent.first ?? .infinity) - published
        let bulk = try await Self.acceptTimes(fake, prefix: "+1415557")
        // The campaign's rate over its last 3 s: the bulk share, not the full limit.
        let recent = bulk.filter { $0 > (bulk.last ?? 0) - 3 }.count
        print(
            "high-lane SMS under a \(campaign)-SMS campaign at 100/s: accepted \(waited) s after publishing; campaign \(bulk.count) sent, \(Double(recent) / 3)/s lately"
        )
        #expect(waited < 1.5, "the high-lane SMS waited \(waited) s")
        #expect(bulk.count < campaign, "long before the campaign finished")
        #expect(Double(recent) / 3 <= 80 * 1.1 + 4, "the campaign keeps to its share: \(Double(recent) / 3)/s")
    }
}
