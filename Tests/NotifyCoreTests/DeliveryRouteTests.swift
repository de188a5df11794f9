import NotifyCore
import Testing

/// One route's calls as a value: held while every breaker is open, deferred when held too long, paced, throttled,
/// failed over, retried or parked, driven here step by step as the worker drives it, without a provider.
@Suite("Delivery route: hold, defer, fail over, pace, throttle, retry or park (no I/O)")
struct DeliveryRouteTests {
    static func route(
        _ claims: [ClaimedDelivery], providers: [String] = ["primary", "secondary"], lane: NotificationPriority = .normal,
        policy: DeliveryRound.Policy = DeliveryRound.Policy()
    ) -> DeliveryRoute {
        let round = DeliveryRoundTests.round(claims, lane: lane, policy: policy)
        return round.route(
            DeliveryRound.Route(name: "on email", providers: Array(providers.indices), jobs: round.sending), providers: providers)
    }

    static func jobs(_ count: Int, lane: NotificationPriority = .normal, fallback: NotificationChannel? = nil) -> [ClaimedDelivery] {
        (0..<count).map { DeliveryRoundTests.claimed($0, lane: lane, fallback: fallback) }
    }

    static let down = DeliveryFailure.unreachable("connection refused")

    @Test("no provider delivers the route: every job is dead (no-provider) and parked, its fallback queued")
    func noProvider() {
        let route = Self.route(Self.jobs(2, fallback: .sms), providers: [])
        #expect(route.isDone && route.leg.unsent.isEmpty)
        #expect(route.outcomes.map(\.transition.status) == [.dead, .dead])
        #expect(route.outcomes.map(\.transition.failure?.code) == ["no-provider", "no-provider"])
        #expect(route.outcomes[0].provider == "none")
        guard case .park(let fallback?) = route.outcomes[0].followUp else {
            Issue.record("a dead job is parked with its fallback")
            return
        }
        #expect(fallback.channel == .sms && fallback.deliveryID == "fallback-id" && fallback.fallback == nil)
    }

    @Test("results: sent, retried in the tier of its attempt, dead at the last attempt or a permanent error, dead at once without retries")
    func results() {
        let claims = [
            DeliveryRoundTests.claimed(0), DeliveryRoundTests.claimed(1, attempt: 2), DeliveryRoundTests.claimed(2, attempt: 6),
            DeliveryRoundTests.claimed(3), DeliveryRoundTests.claimed(4, retries: false),
        ]
        var route = Self.route(claims)
        let call = route.call(provider: "primary", admits: .max, rateLimit: nil)
        #expect(call.size == 5 && call.slots.isEmpty)
        let jobs = route.take(call)
        let transient = DeliveryResult.failed(.connection("reset"))
        let report = route.record(
            [
                .sent(providerMessageID: "q-1"), transient, transient,
                .failed(.smtp(code: 550, enhanced: nil, text: "no", stage: .recipient)), transient,
            ],
            of: jobs, provider: "primary")
        #expect(report == DeliveryRoute.Report())
        #expect(route.isDone)
        #expect(route.outcomes.map(\.transition.status) == [.sent, .failed, .dead, .dead, .dead])
        #expect(route.outcomes[0].transition.providerMessageID == "q-1" && route.outcomes[0].transition.address == "u0@example.com")
        #expect(route.outcomes[1].followUp == .retry(delaySeconds: 120) && route.outcomes[1].transition.attempt == 2, "attempt 2's tier")
        #expect(route.outcomes.map(\.tally) == [.sent, .retried, .dead, .dead, .dead])
    }

    @Test("a provider-wide failure holds the call's jobs for the next provider, first in line; the next call through is the provider back")
    func failover() {
        var route = Self.route(Self.jobs(3))
        let first = route.take(route.call(provider: "primary", admits: 2, rateLimit: nil))
        #expect(first.map(\.index) == [0, 1], "the breaker admits two calls")
        let held = route.record([.failed(Self.down), .sent(providerMessageID: "a")], of: first, provider: "primary")
        #expect(held == DeliveryRoute.Report(held: 1))
        #expect(route.pending.map(\.index) == [0, 2], "the held job goes first")
        let second = route.take(route.call(provider: "secondary", admits: .max, rateLimit: nil))
        let back = route.record([.sent(providerMessageID: "b"), .sent(providerMessageID: "c")], of: second, provider: "secondary")
        #expect(back.back && route.isDone)
        #expect(route.outcomes.map(\.provider) == ["primary", "secondary", "secondary"])
        #expect(route.outcomes.allSatisfy { $0.transition.status == .sent })
    }

    @Test("every breaker open: hold 50 ms to 5 s at a time with the last failure; past the hold limit, defer unspent; at shutdown, stop")
    func hold() {
        var route = Self.route(Self.jobs(2))
        #expect(route.hold(heldFor: 1, reopensIn: 12, lastFailure: Self.down, stopping: false) == .wait(seconds: 5, failure: Self.down))
        #expect(
            route.hold(heldFor: 1, reopensIn: nil, lastFailure: nil, stopping: false)
                == .wait(
                    seconds: 0.05, failure: DeliveryFailure(code: "breaker-open", .provider, detail: "every provider of email is failing")))
        #expect(route.hold(heldFor: 1, reopensIn: 0.5, lastFailure: Self.down, stopping: true) == .stop)
        #expect(route.pending.count == 2 && route.outcomes.isEmpty)
        #expect(route.hold(heldFor: 301, reopensIn: 2, lastFailure: Self.down, stopping: false) == .deferred(tier: 600, failure: Self.down))
        #expect(route.isDone)
        #expect(route.outcomes.map(\.transition.attempt) == [0, 0], "attempts unspent")
        #expect(route.outcomes.allSatisfy { $0.followUp == .retry(delaySeconds: 600) && $0.provider == "primary" && $0.tally == .retried })
        var noTiers = DeliveryRound.Policy()
        noTiers.retry.tiers[.normal] = []
        var waiting = Self.route(Self.jobs(1), policy: noTiers)
        #expect(
            waiting.hold(heldFor: 10_000, reopensIn: 1, lastFailure: Self.down, stopping: false) == .wait(seconds: 1, failure: Self.down),
            "a lane without tiers keeps holding")
    }

    @Test("the failure a call met is what a later hold records, and the call after the hold is the provider back")
    func holdAfterFailure() {
        var route = Self.route(Self.jobs(1))
        let jobs = route.take(route.call(provider: "primary", admits: .max, rateLimit: nil))
        _ = route.record([.failed(Self.down)], of: jobs, provider: "primary")
        #expect(
            route.hold(heldFor: 1, reopensIn: 1, lastFailure: .connection("other"), stopping: false)
                == .wait(seconds: 1, failure: Self.down))
        let again = route.take(route.call(provider: "primary", admits: 1, rateLimit: nil))
        #expect(route.record([.sent(providerMessageID: "x")], of: again, provider: "primary").back)
    }

    @Test("a rate limit: calls of at most its burst, and on the normal and low lanes at most the bulk share's, both schedules reserved")
    func callSize() {
        let limit = RateLimit(perSecond: 10, burst: 10)
        let normal = Self.route(Self.jobs(30)).call(provider: "twilio", admits: .max, rateLimit: limit)
        let bulk = RateLimit(perSecond: 10 * (Double(100 - 20) / 100), burst: 8)
        #expect(normal.size == 8)
        #expect(
            normal.slots == [
                SlotRequest(key: "provider:twilio", count: 8, limit: limit),
                SlotRequest(key: "provider:twilio:bulk", count: 8, limit: bulk),
            ])
        let high = Self.route(Self.jobs(30, lane: .high), lane: .high).call(provider: "twilio", admits: 3, rateLimit: limit)
        #expect(
            high.size == 3 && high.slots == [SlotRequest(key: "provider:twilio", count: 3, limit: limit)],
            "the breaker's probes bound it too")
    }

    @Test("pacing: wait for the slots; one too far off to hold defers every pending job unspent; a lane without tiers waits")
    func pacing() {
        let limit = RateLimit(perSecond: 1, burst: 1)
        var route = Self.route(Self.jobs(3))
        let call = route.call(provider: "twilio", admits: .max, rateLimit: limit)
        let due = [call.slots[0].key: SlotReservation(tat: 101, now: 100)]
        #expect(route.pace(call, reserved: due, heldFor: 0) == .go(wait: 0))
        let later = [call.slots[0].key: SlotReservation(tat: 131, now: 100)]
        #expect(route.pace(call, reserved: later, heldFor: 10) == .go(wait: 30), "10 s held and 30 s to wait is within 60 s")
        #expect(route.pace(call, reserved: later, heldFor: 31) == .deferred(wait: 30, tier: 30))
        #expect(route.isDone && route.outcomes.count == 3)
        #expect(route.outcomes.allSatisfy { $0.transition.failure == .paced("twilio", wait: 30) && $0.transition.attempt == 0 })
    }

    @Test("jobs whose send request was cancelled while they waited for their slot are recorded cancelled, the rest of the call goes")
    func cancelled() {
        var route = Self.route(Self.jobs(4))
        let call = route.call(provider: "primary", admits: 3, rateLimit: nil)
        let rest = route.dropping(cancelled: ["d-1", "d-3"], from: call)
        #expect(rest.size == 2, "d-3 is not in this call")
        #expect(route.outcomes.map(\.transition.status) == [.cancelled] && route.outcomes[0].transition.attempt == 0)
        #expect(route.outcomes[0].tally == nil)
        #expect(route.take(rest).map(\.index) == [0, 2])
        #expect(route.pending.map(\.index) == [3])
        #expect(route.dropping(cancelled: [], from: route.call(provider: "primary", admits: 1, rateLimit: nil)).size == 1)
    }

    @Test(
        "a 429: the throttled jobs go first in the next call, the longest wait is reported; deferred when waiting would hold them too long")
    func throttle() {
        var route = Self.route(Self.jobs(3))
        let jobs = route.take(route.call(provider: "primary", admits: 2, rateLimit: nil))
        let report = route.record(
            [.failed(.http(status: 429, detail: "", retryAfter: 5)), .failed(.http(status: 429, detail: "", retryAfter: 40))],
            of: jobs, provider: "primary")
        #expect(report == DeliveryRoute.Report(throttled: 2, throttle: 40))
        #expect(route.pending.map(\.index) == [0, 1, 2] && route.outcomes.isEmpty, "attempts unspent")
        #expect(route.throttled(40, provider: "primary", heldFor: 10) == nil, "50 s is within 60 s: wait here")
        #expect(route.throttled(40, provider: "primary", heldFor: 30) == 120)
        #expect(route.isDone && route.outcomes.allSatisfy { $0.followUp == .retry(delaySeconds: 120) && $0.transition.attempt == 0 })
    }

    @Test("a throttle in the same call as a provider-wide failure is not waited for: the next provider takes both")
    func throttleWhileDown() {
        var route = Self.route(Self.jobs(2))
        let jobs = route.take(route.call(provider: "primary", admits: .max, rateLimit: nil))
        let report = route.record(
            [.failed(.http(status: 429, detail: "", retryAfter: 5)), .failed(Self.down)], of: jobs, provider: "primary")
        #expect(report == DeliveryRoute.Report(held: 1, throttled: 1))
        #expect(route.pending.map(\.index) == [1, 0], "held first, then throttled")
    }
}
