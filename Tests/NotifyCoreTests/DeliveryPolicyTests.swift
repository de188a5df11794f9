import NotifyCore
import Testing

/// What a failed delivery means and what comes next: the failure's class, the lane's retry tiers, the lanes' order.
@Suite("Failure classification, retry tiers and lanes")
struct DeliveryPolicyTests {
    @Test("SMTP replies are classified once: 4xx transient, 5xx on the message permanent, 5xx to the session provider-wide")
    func classification() {
        #expect(DeliveryFailure.smtp(code: 451, enhanced: "4.3.0", text: "later", stage: .recipient).failureClass == .transient)
        #expect(DeliveryFailure.smtp(code: 421, enhanced: nil, text: "closing", stage: .greeting).failureClass == .transient)
        #expect(DeliveryFailure.smtp(code: 550, enhanced: "5.1.1", text: "no such user", stage: .recipient).failureClass == .permanent)
        #expect(DeliveryFailure.smtp(code: 554, enhanced: nil, text: "spam", stage: .message).failureClass == .permanent)
        #expect(DeliveryFailure.smtp(code: 535, enhanced: "5.7.8", text: "bad credentials", stage: .auth).failureClass == .provider)
        #expect(DeliveryFailure.smtp(code: 530, enhanced: "5.7.0", text: "auth required", stage: .mailFrom).failureClass == .provider)
        #expect(DeliveryFailure.smtp(code: 552, enhanced: "5.3.4", text: "too big", stage: .mailFrom).failureClass == .permanent)
        #expect(DeliveryFailure.smtp(code: 550, enhanced: nil, text: "x", stage: .recipient).code == "smtp-550")
        #expect(DeliveryFailure.startTLSUnavailable.failureClass == .provider)
        #expect(DeliveryFailure.unreachable("refused").failureClass == .provider)
        #expect(DeliveryFailure.connection("reset").failureClass == .transient)
    }

    @Test("retries follow the lane's tiers, then dead; permanent is dead at once; provider-wide holds without an attempt")
    func retries() {
        let policy = RetryPolicy()
        let transient = DeliveryFailure.connection("reset")
        #expect((1...3).map { policy.next(after: transient, attempt: $0, lane: .high) } == [2, 10, 30].map { .retry(delaySeconds: $0) })
        #expect(policy.next(after: transient, attempt: 4, lane: .high) == .dead)
        #expect(policy.next(after: transient, attempt: 5, lane: .low) == .retry(delaySeconds: 21_600))
        #expect(policy.next(after: transient, attempt: 6, lane: .normal) == .dead)
        #expect(policy.next(after: .tooLarge(limit: 10), attempt: 1, lane: .normal) == .dead)
        #expect(policy.next(after: .startTLSUnavailable, attempt: 9, lane: .normal) == .holdProvider)
        #expect(policy.distinctDelays == [2, 10, 30, 120, 600, 3600, 21_600])
        #expect(policy.distinctDelays.map(RetryPolicy.tierName) == ["2s", "10s", "30s", "2m", "10m", "1h", "6h"])
        #expect(RetryPolicy.tierName(90) == "90s")
    }

    @Test("high strictly first; normal and low 4:1 while both have work; low alone is served at once")
    func lanes() {
        var scheduler = LaneScheduler(normalPerLow: 4)
        let all: Set<NotificationPriority> = [.high, .normal, .low]
        #expect((0..<5).map { _ in scheduler.next { all.contains($0) } } == Array(repeating: .high, count: 5))
        let bulk = (0..<10).compactMap { _ in scheduler.next { $0 != .high } }
        #expect(bulk == [.normal, .normal, .normal, .normal, .low, .normal, .normal, .normal, .normal, .low])
        #expect(scheduler.next { $0 == .low } == .low)
        #expect(scheduler.next { _ in false } == nil)
    }
}
