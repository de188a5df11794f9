import NotifyCore
import Testing

/// What a delivery round decides, without a broker, a database or a provider: which jobs are sent, recipients over
/// their limit, routes, and the merge of a push's outcomes on several platforms. `DeliveryRouteTests` drives the calls.
@Suite("Delivery round: claims, recipients' limits, routes, merges (no I/O)")
struct DeliveryRoundTests {
    static func claimed(
        _ number: Int, channel: NotificationChannel = .email, lane: NotificationPriority = .normal, user: String? = nil,
        address: String? = nil, attempt: Int = 1, fallback: NotificationChannel? = nil, retries: Bool = true
    ) -> ClaimedDelivery {
        ClaimedDelivery(
            job: DeliveryJob(
                deliveryID: "d-\(number)", notificationID: "n-\(number)", userID: user ?? "u-\(number)", channel: channel, lane: lane,
                transactional: false, content: MessageContent(subject: "s", text: "t", html: "<p>t</p>"), fallback: fallback,
                retries: retries),
            address: address ?? "u\(number)@example.com", attempt: attempt)
    }

    static func round(
        _ claims: [ClaimedDelivery?], channel: NotificationChannel = .email, lane: NotificationPriority = .normal,
        policy: DeliveryRound.Policy = DeliveryRound.Policy()
    ) -> DeliveryRound {
        DeliveryRound(claims: claims, channel: channel, lane: lane, policy: policy, newID: { "fallback-id" })
    }

    static func tokens(_ platforms: String...) -> String {
        "[" + platforms.map { #"{"platform":"\#($0)","token":"t-\#($0)"}"# }.joined(separator: ",") + "]"
    }

    @Test("jobs whose claim gave nothing to send are finished as they are; the rest are sent, by their place in the batch")
    func partition() {
        let round = Self.round([Self.claimed(0), nil, Self.claimed(2), nil])
        #expect(round.finished == [1, 3])
        #expect(round.sending.map(\.index) == [0, 2])
        #expect(round.sending.map(\.claimed.job.deliveryID) == ["d-0", "d-2"])
        #expect(round.outcomes.isEmpty)
    }

    @Test("per-recipient limit: one slot per job of each recipient; one over it is deferred to the tier past its next slot, the others go")
    func recipientLimit() {
        var round = Self.round([Self.claimed(0, user: "ann"), Self.claimed(1, user: "bob"), Self.claimed(2, user: "ann")])
        let limit = RateLimit(perSecond: 10.0 / 3600, burst: 10)
        let requests = round.recipientSlots(limit: limit).sorted { $0.key < $1.key }
        #expect(
            requests == [
                SlotRequest(key: "recipient:email:ann", count: 2, limit: limit),
                SlotRequest(key: "recipient:email:bob", count: 1, limit: limit),
            ])
        // Ann's schedule is 200 s past what her burst allows; Bob's is due.
        let reserved = [
            "recipient:email:ann": SlotReservation(tat: 1000 + limit.interval + limit.tolerance + 200, now: 1000),
            "recipient:email:bob": SlotReservation(tat: 1000, now: 1000),
        ]
        let unused = round.paceRecipients(requests, reserved: reserved, provider: "smtp")
        #expect(unused == [requests[0]], "only Ann's slots go back")
        #expect(round.sending.map(\.index) == [1])
        #expect(round.outcomes.map(\.index) == [0, 2])
        let deferred = round.outcomes[0]
        #expect(deferred.provider == "smtp" && deferred.followUp == .retry(delaySeconds: 600), "the shortest tier of at least 200 s")
        #expect(deferred.transition.status == .failed && deferred.transition.attempt == 0, "its attempt unspent")
        #expect(deferred.transition.failure?.code == DeliveryFailure.pacedCode && deferred.tally == .deferred)
    }

    @Test("per-recipient limit on a lane without tiers: nobody is held back, nothing is given back")
    func recipientLimitWithoutTiers() {
        var policy = DeliveryRound.Policy()
        policy.retry.tiers[.low] = []
        var round = Self.round([Self.claimed(0, lane: .low)], lane: .low, policy: policy)
        let limit = RateLimit(perSecond: 1.0 / 3600, burst: 1)
        let requests = round.recipientSlots(limit: limit)
        #expect(round.paceRecipients(requests, reserved: [requests[0].key: SlotReservation(tat: 99_999, now: 0)], provider: "smtp").isEmpty)
        #expect(round.sending.count == 1 && round.outcomes.isEmpty)
    }

    @Test("routes: one chain for a channel; for push one per platform the tokens name, a job with both on both, unknown tokens on none")
    func routes() {
        let email = Self.round([Self.claimed(0), Self.claimed(1)])
        #expect(email.routes(platforms: [nil, nil]) == [DeliveryRound.Route(name: "on email", providers: [0, 1], jobs: email.sending)])
        let push = Self.round(
            [
                Self.claimed(0, channel: .push, address: Self.tokens("apns")),
                Self.claimed(1, channel: .push, address: Self.tokens("fcm", "apns")),
                Self.claimed(2, channel: .push, address: #"[{"platform":"wns","token":"x"}]"#),
            ], channel: .push)
        let routes = push.routes(platforms: [.fcm, .apns, .fcm])
        #expect(routes.map(\.name) == ["to apns push tokens", "to fcm push tokens", "to push tokens of no platform it knows"])
        #expect(routes.map(\.providers) == [[1], [0, 2], []])
        #expect(routes.map { $0.jobs.map(\.index) } == [[0, 1], [1], [2]])
        #expect(DeliveryRound.shared(routes.map(\.jobs)) == [1])
        #expect(Self.round([], channel: .push).routes(platforms: [.apns]).count == 1, "never empty")
    }

    @Test(
        "a job on several routes: sent wins, then handed back, then a retry, then dead; between equals the first route's; first-seen order")
    func merge() {
        let jobs = (0..<4).map { RoundJob(index: $0, claimed: Self.claimed($0)) }
        func outcome(_ index: Int, _ status: DeliveryStatus, _ provider: String) -> DeliveryOutcome {
            DeliveryOutcome(
                index: index, provider: provider, transition: DeliveryTransition(deliveryID: "d-\(index)", status: status, attempt: 1))
        }
        let apns = DeliveryRound.Leg(
            outcomes: [outcome(0, .dead, "apns"), outcome(1, .failed, "apns"), outcome(3, .failed, "apns")],
            unsent: [jobs[2]])
        let fcm = DeliveryRound.Leg(
            outcomes: [
                outcome(0, .sent, "fcm"), outcome(1, .dead, "fcm"), outcome(2, .failed, "fcm"),
                outcome(3, .failed, "fcm"),
            ], unsent: [])
        let merged = DeliveryRound.merge([apns, fcm])
        #expect(merged.outcomes == [outcome(0, .sent, "fcm"), outcome(1, .failed, "apns"), outcome(3, .failed, "apns")])
        #expect(merged.unsent == [jobs[2]], "one route could not try it yet: handed back, not recorded failed")
        let (own, shared) = fcm.split(shared: [0, 2])
        #expect(own.outcomes.map(\.index) == [1, 3] && shared.outcomes.map(\.index) == [0, 2])
    }

    @Test("how outcomes are counted: sent, a paced deferral, a retry (a provider-down deferral too), dead; a cancelled one not at all")
    func tallies() {
        func tally(_ status: DeliveryStatus, _ failure: DeliveryFailure?) -> DeliveryOutcome.Tally? {
            DeliveryOutcome(
                index: 0, provider: "p", transition: DeliveryTransition(deliveryID: "d", status: status, attempt: 1, failure: failure)
            ).tally
        }
        #expect(tally(.sent, nil) == .sent)
        #expect(tally(.failed, .paced("recipient", wait: 5)) == .deferred)
        #expect(tally(.failed, .unreachable("down")) == .retried)
        #expect(tally(.dead, .connection("reset")) == .dead)
        #expect(tally(.cancelled, DeliveryFailure(code: "cancelled", .permanent, detail: "")) == nil)
    }
}
