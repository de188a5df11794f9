import Foundation
import NotifyCore
import Testing

/// What a claim decides from what it read, without a database: addresses, opt-outs, quiet hours, the fallback rule,
/// digests, the jobs kept for the sweeper, and what is written.
@Suite("Claim planner: opt-outs, quiet hours, fallbacks, digests (no I/O)")
struct ClaimPlannerTests {
    static let planner = ClaimPlanner(workExchange: "work", newID: { "00000000-0000-4000-8000-00000000f411" })
    static let noon = Date(timeIntervalSince1970: 1_796_040_000)  // 2026-11-30 12:00 UTC

    static func id(_ number: Int) -> String { "00000000-0000-4000-8000-\(String(format: "%012d", number))" }

    static func job(
        _ number: Int, channel: NotificationChannel = .email, lane: NotificationPriority = .normal, fallback: NotificationChannel? = nil,
        category: String? = nil, digest: Bool = false
    ) -> DeliveryJob {
        var job = DeliveryJob(
            deliveryID: id(number).uppercased(), notificationID: id(1000 + number), userID: "u-\(number)", channel: channel, lane: lane,
            transactional: false, content: MessageContent(subject: "s", text: "t", html: nil), fallback: fallback, category: category)
        job.isDigest = digest
        return job
    }

    static func facts(
        _ number: Int, attempts: Int = 0, contact: String? = "u@example.com", optOuts: String? = nil, category: String? = nil,
        quietHours: String? = nil, timezone: String? = nil
    ) -> ClaimFacts {
        ClaimFacts(
            deliveryID: id(number), attempts: attempts, contact: contact, optOuts: optOuts, category: category,
            quietHours: quietHours, timezone: timezone)
    }

    @Test("a delivery with an address is sent as the attempt after those made; one not taken is settled and its job kept")
    func send() {
        let jobs = [
            Self.job(1), Self.job(2),
            DeliveryJob(
                deliveryID: "not-a-uuid", notificationID: "n", userID: "u", channel: .email, lane: .normal, transactional: false,
                content: MessageContent(subject: "s", text: "t", html: nil)),
        ]
        let plan = Self.planner.plan(jobs, found: [Self.facts(1, attempts: 2)], now: Self.noon)
        #expect(plan.claims == [.send(ClaimedDelivery(job: jobs[0], address: "u@example.com", attempt: 3)), .settled, .settled])
        #expect(plan.kept == [jobs[1]], "another live claim holds it: kept for the sweeper (a non-UUID is no delivery)")
        #expect(plan.history.map(\.status) == [.sending] && plan.history[0].attempt == 3 && plan.history[0].detail == nil)
        #expect(plan.skipped.isEmpty && plan.held.isEmpty && plan.fallbacks.isEmpty && plan.closing.isEmpty)
    }

    @Test("no address: skipped, and its rule's fallback queued; an empty push token list and a disabled webhook are no address")
    func noAddress() {
        let jobs = [
            Self.job(1, fallback: .sms), Self.job(2, channel: .push, fallback: .sms), Self.job(3, channel: .webhook),
            Self.job(4, channel: .webhook),
        ]
        let plan = Self.planner.plan(
            jobs,
            found: [
                Self.facts(1, contact: nil), Self.facts(2, contact: "[]"),
                Self.facts(3, contact: #"{"url":"https://x.example","secrets":[],"disabled":"410 Gone"}"#),
                Self.facts(4, contact: #"{"url":"https://x.example","secrets":[],"disabled":null}"#),
            ], now: Self.noon)
        #expect(plan.claims.prefix(3) == [.skipped, .skipped, .skipped])
        #expect(plan.skipped == [Self.id(1), Self.id(2), Self.id(3)])
        #expect(plan.history.map(\.detail) == ["no-address", "no-address", "no-address", nil])
        #expect(plan.fallbacks.map(\.channel) == [.sms, .sms])
        #expect(plan.fallbacks.map(\.deliveryID) == ["00000000-0000-4000-8000-00000000f411", "00000000-0000-4000-8000-00000000f411"])
        guard case .send(let webhook) = plan.claims[3] else {
            Issue.record("an endpoint whose disabled is null is live")
            return
        }
        #expect(webhook.address.contains("https://x.example"))
    }

    @Test("opted out of the send's category on the channel: skipped (opted-out), and no fallback: the user said no, not elsewhere")
    func optedOut() {
        let jobs = [Self.job(1, fallback: .sms, category: "marketing"), Self.job(2, category: "orders")]
        let optOuts = #"[{"channel":"email","category":"marketing"}]"#
        let plan = Self.planner.plan(
            jobs,
            found: [
                Self.facts(1, optOuts: optOuts, category: "marketing"),
                Self.facts(2, optOuts: optOuts, category: "orders"),
            ], now: Self.noon)
        #expect(plan.claims[0] == .skipped && plan.history[0].detail == "opted-out")
        #expect(plan.fallbacks.isEmpty)
        guard case .send = plan.claims[1] else {
            Issue.record("another category goes")
            return
        }
    }

    @Test("quiet hours: a normal-lane delivery is held until the window ends, its job scheduled; the high lane goes at once")
    func quietHours() throws {
        let window = QuietHours(start: 11 * 60, end: 13 * 60).body
        let stored = String(decoding: window.bytes, as: UTF8.self)
        let jobs = [Self.job(1), Self.job(2, lane: .high)]
        let plan = Self.planner.plan(
            jobs,
            found: [
                Self.facts(1, attempts: 1, quietHours: stored, timezone: "UTC"),
                Self.facts(2, quietHours: stored, timezone: "UTC"),
            ], now: Self.noon)
        #expect(plan.claims[0] == .held)
        let held = try #require(plan.held.first)
        #expect(held.due == Self.noon.addingTimeInterval(3600) && held.message == OutboxMessage(jobs[0], exchange: "work"))
        #expect(plan.history[0].status == .scheduled && plan.history[0].attempt == 1)
        #expect(plan.history[0].detail == "quiet-hours until \(RFC3339.string(from: Self.noon.addingTimeInterval(3600)))")
        guard case .send = plan.claims[1] else {
            Issue.record("a one-time code waits for nobody's quiet hours")
            return
        }
    }

    @Test(
        "digests: one leaving is closed and says what its items say; one skipped closes with its reason; one held stays open; empty is skipped"
    )
    func digests() {
        let window = String(decoding: QuietHours(start: 11 * 60, end: 13 * 60).body.bytes, as: UTF8.self)
        let jobs = [Self.job(1, digest: true), Self.job(2, digest: true), Self.job(3, digest: true), Self.job(4, digest: true)]
        var plan = Self.planner.plan(
            jobs,
            found: [
                Self.facts(1), Self.facts(2, contact: nil), Self.facts(3, quietHours: window, timezone: "UTC"), Self.facts(4),
            ], now: Self.noon)
        #expect(
            plan.closing == [
                DigestClosing(digestID: Self.id(1001), channel: .email),
                DigestClosing(digestID: Self.id(1002), channel: .email, skip: "no-address"),
                DigestClosing(digestID: Self.id(1004), channel: .email),
            ])
        let items = [DigestEntry(title: "Order shipped", body: "On its way"), DigestEntry(title: "Order delivered", body: "Enjoy")]
        plan.compose([Self.id(1001): DigestListing(entries: items, total: 2)])
        #expect(plan.digestContents == [Self.id(1001): MessageContent.digest(of: items, on: .email)])
        guard case .send(let sent) = plan.claims[0] else {
            Issue.record("the digest with items is sent")
            return
        }
        #expect(sent.job.content == MessageContent.digest(of: items, on: .email))
        #expect(plan.claims[1...] == [.skipped, .held, .skipped])
        #expect(plan.history.map(\.detail) == [nil, "no-address", plan.history[2].detail, "empty-digest"])
        #expect(plan.skipped == [Self.id(2), Self.id(4)])
    }

    @Test("a job twice in a batch is decided and written once, and both copies get the claim")
    func duplicates() {
        let jobs = [Self.job(1), Self.job(1)]
        let plan = Self.planner.plan(jobs, found: [Self.facts(1)], now: Self.noon)
        #expect(plan.history.count == 1)
        #expect(plan.claims[0] == plan.claims[1])
    }
}
