import NotifyCore
import Testing

@Suite("Circuit breakers: open above the failure rate, probe, close")
struct CircuitBreakerTests {
    static let timeout = DeliveryResult.failed(DeliveryFailure(code: "timeout", .transient, detail: ""))
    static let sent = DeliveryResult.sent(providerMessageID: "x")
    static let invalidNumber = DeliveryResult.failed(.twilio(status: 400, errorCode: 21211, message: "", retryAfter: nil))
    static let throttled = DeliveryResult.failed(.http(status: 429, detail: ""))
    static let unreachable = DeliveryResult.failed(.unreachable("refused"))

    @Test("more than half of at least 20 calls failing opens it; per-message errors and 429 do not count")
    func opensAboveTheRate() {
        var breaker = CircuitBreaker(policy: BreakerPolicy())
        #expect(breaker.record(Array(repeating: Self.timeout, count: 19), now: 0) == nil, "not judged before 20 calls")
        #expect(
            breaker.record(Array(repeating: Self.invalidNumber, count: 100) + Array(repeating: Self.throttled, count: 100), now: 0) == nil)
        #expect(breaker.admits(now: 0) == .max)
        #expect(breaker.record([Self.sent, Self.timeout], now: 0) == .opened(forSeconds: 30), "20 of 21 failed")
        #expect(breaker.admits(now: 29) == 0)
        #expect(breaker.reopensAt == 30)
    }

    @Test("exactly half failing keeps it closed; the window forgets old failures")
    func windowAndThreshold() {
        var breaker = CircuitBreaker(policy: BreakerPolicy())
        #expect(breaker.record(Array(repeating: Self.timeout, count: 25) + Array(repeating: Self.sent, count: 25), now: 0) == nil)
        #expect(breaker.record(Array(repeating: Self.sent, count: 50), now: 0) == nil)
        #expect(breaker.record(Array(repeating: Self.timeout, count: 25), now: 0) == nil, "25 of the last 50")
        #expect(breaker.record([Self.timeout], now: 0) == .opened(forSeconds: 30), "26 of the last 50")
    }

    @Test("a provider-wide failure opens it at once; after the open time 5 probes go; all succeeding close it")
    func probesClose() {
        var breaker = CircuitBreaker(policy: BreakerPolicy())
        #expect(breaker.record([Self.unreachable], now: 100) == .opened(forSeconds: 30))
        #expect(breaker.reason == "unreachable (provider)")
        #expect(breaker.admits(now: 130) == 5)
        #expect(breaker.record([Self.sent, Self.sent], now: 130) == nil)
        #expect(breaker.admits(now: 130) == 3)
        #expect(breaker.record([Self.sent, Self.sent, Self.sent], now: 131) == .closed)
        #expect(breaker.admits(now: 131) == .max)
    }

    @Test("a failed probe reopens it for twice as long, up to the maximum")
    func growingOpenTime() {
        var breaker = CircuitBreaker(policy: BreakerPolicy())
        var now = 0.0
        var opened: [Double] = []
        _ = breaker.record([Self.unreachable], now: now)
        opened.append(30)
        for _ in 0..<5 {
            now = breaker.reopensAt ?? now
            #expect(breaker.admits(now: now) == 5)
            if case .opened(let seconds) = breaker.record([Self.timeout], now: now) { opened.append(seconds) }
        }
        #expect(opened == [30, 60, 120, 240, 300, 300])
        now = breaker.reopensAt ?? now
        _ = breaker.admits(now: now)
        #expect(breaker.record(Array(repeating: Self.sent, count: 5), now: now) == .closed)
        #expect(breaker.record([Self.unreachable], now: now) == .opened(forSeconds: 30), "closing resets the growth")
    }
}
