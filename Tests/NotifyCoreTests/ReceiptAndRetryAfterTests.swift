import NotifyCore
import PropertyBased
import Testing

@Suite("Receipts merge forward; providers' Retry-After and HTTP errors")
struct ReceiptAndRetryAfterTests {
    /// Where a delivery ends after receipts arrive in `order`, starting from `sent`.
    static func merged(_ order: [ReceiptStatus]) -> DeliveryStatus {
        order.reduce(DeliveryStatus.sent) { current, receipt in receipt.supersedes.contains(current) ? receipt.deliveryStatus : current }
    }

    @Test("receipts only move forward: delivered after undelivered stays undelivered; a bounce after delivered wins")
    func monotonic() {
        #expect(Self.merged([.delivered]) == .delivered)
        #expect(Self.merged([.undelivered, .delivered]) == .undelivered)
        #expect(Self.merged([.delivered, .bounced]) == .bounced)
        #expect(Self.merged([.delivered, .delivered]) == .delivered)
        for status in ReceiptStatus.allCases {
            #expect(
                !status.supersedes.contains(.dead) && !status.supersedes.contains(.sending) && !status.supersedes.contains(.queued),
                "a receipt never moves a delivery that was not sent")
        }
        #expect(ReceiptStatus.twilio("sent") == nil && ReceiptStatus.twilio("queued") == nil)
        #expect(ReceiptStatus.twilio("read") == .delivered && ReceiptStatus.twilio("failed") == .undelivered)
    }

    @Test("any order of the same receipts ends in the same status once a failure is among them")
    func orderIndependentFailures() async {
        await propertyCheck(input: Gen.int(in: 0...2).array(of: 1...6)) { picks in
            let receipts = picks.map { ReceiptStatus.allCases[$0] }
            let end = Self.merged(receipts)
            if receipts.contains(where: { $0 != .delivered }) {
                #expect(end != .delivered && end != .sent, "a failure report is never overwritten by delivered")
            } else {
                #expect(end == .delivered)
            }
        }
    }

    @Test("Retry-After: delay-seconds or an IMF-fixdate, relative to now; nonsense is ignored")
    func retryAfter() {
        let now = 784_111_777.0  // Sun, 06 Nov 1994 08:49:37 GMT
        #expect(RetryAfter.seconds("120", now: now) == 120)
        #expect(RetryAfter.seconds(" 3 ", now: now) == 3)
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:50:37 GMT", now: now) == 60)
        #expect(RetryAfter.seconds("Sun, 06 Nov 1994 08:40:00 GMT", now: now) == 0, "a date in the past is now")
        #expect(RetryAfter.seconds("99999999999999999999", now: now) == RetryPolicy.maxThrottleSeconds)
        for nonsense in [nil, "", "-1", "1.5", "soon", "Sun, 06 Nov 1994 25:00:00 GMT", "Sun, 06 Foo 1994 08:49:37 GMT"] {
            #expect(RetryAfter.seconds(nonsense, now: now) == nil)
        }
    }

    @Test("a 429 throttles: the retry policy paces it by Retry-After (1 s without, an hour at most), spending no attempt")
    func throttled() {
        let policy = RetryPolicy()
        #expect(
            policy.next(after: .http(status: 429, detail: "slow down", retryAfter: 5), attempt: 1, lane: .high) == .throttled(seconds: 5))
        #expect(policy.next(after: .http(status: 429, detail: "slow down"), attempt: 9, lane: .low) == .throttled(seconds: 1))
        #expect(policy.next(after: .http(status: 429, detail: "", retryAfter: 1e9), attempt: 1, lane: .low) == .throttled(seconds: 3600))
        #expect(DeliveryFailure.http(status: 403, detail: "").failureClass == .provider)
        #expect(DeliveryFailure.http(status: 404, detail: "").failureClass == .permanent)
        #expect(DeliveryFailure.http(status: 502, detail: "").failureClass == .transient)
        #expect(DeliveryFailure.http(status: 400, detail: "", retryAfter: 3).retryAfter == nil, "only a throttle carries a wait")
    }

    @Test("a pushed schedule makes the next slot wait exactly the provider's Retry-After, and never pulls a later one back")
    func pushed() async {
        await propertyCheck(input: Gen.int(in: 1...1000), Gen.int(in: 1...50), Gen.int(in: 0...120)) { rate, burst, seconds in
            let limit = RateLimit(perSecond: Double(rate), burst: burst)
            let now = 1000.0
            let tat = GCRA.pushed(tat: nil, now: now, by: Double(seconds), limit: limit)
            let reserved = GCRA.advance(tat: tat, now: now, count: 1, limit: limit)
            #expect(abs(GCRA.wait(afterReserving: 1, tat: reserved, now: now, limit: limit) - Double(seconds)) < 1e-6)
            let later = now + Double(seconds) + 500
            #expect(GCRA.pushed(tat: later, now: now, by: Double(seconds), limit: limit) == later)
        }
    }
}
