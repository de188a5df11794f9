import NotifyCore
import PropertyBased
import Testing

@Suite("GCRA pacing")
struct GCRATests {
    let limit = RateLimit(perSecond: 10, burst: 5)

    /// Reserves `count` slots at `now` against `tat`; returns the new TAT and when the sends may go.
    func reserve(_ count: Int, at now: Double, tat: Double?) -> (tat: Double, sendAt: Double) {
        let next = GCRA.advance(tat: tat, now: now, count: count, limit: limit)
        return (next, now + GCRA.wait(afterReserving: count, tat: next, now: now, limit: limit))
    }

    @Test("after a quiet spell a burst goes at once; the next slot waits one interval; a batch waits for its last slot")
    func schedule() {
        var tat: Double? = nil
        for _ in 0..<5 {
            let (next, sendAt) = reserve(1, at: 100, tat: tat)
            #expect(sendAt == 100)
            tat = next
        }
        let (afterBurst, sixth) = reserve(1, at: 100, tat: tat)
        #expect(abs(sixth - 100.1) < 1e-9)
        let (_, batch) = reserve(3, at: 100, tat: afterBurst)
        #expect(abs(batch - 100.4) < 1e-9, "slots 7, 8, 9: the ninth is due 0.4 s after the burst")
        // A long quiet spell forgets the past: the TAT starts from now again.
        let (_, later) = reserve(5, at: 1000, tat: afterBurst)
        #expect(later == 1000)
    }

    @Test("slots given back are taken by the next reserver")
    func giveBack() {
        let full = GCRA.advance(tat: nil, now: 0, count: 50, limit: limit)
        let returned = GCRA.giveBack(count: 40, tat: full, limit: limit)
        #expect(abs(returned - GCRA.advance(tat: nil, now: 0, count: 10, limit: limit)) < 1e-9)
    }

    @Test("property: whatever the arrivals and round sizes (up to the burst), no second holds more sends than burst + rate")
    func neverFasterThanTheLimit() async {
        await propertyCheck(count: 500, input: Gen.int(in: 0...300).array(of: 1...60), Gen.int(in: 1...5).array(of: 60...60)) {
            gaps, counts in
            var tat: Double? = nil
            var now = 0.0
            var sends: [Double] = []
            for (gap, count) in zip(gaps, counts) {
                now += Double(gap) / 1000
                let (next, sendAt) = reserve(count, at: now, tat: tat)
                tat = next
                sends += Array(repeating: sendAt, count: count)
                #expect(sendAt >= now)
            }
            sends.sort()
            for (i, start) in sends.enumerated() {
                // A window of one second, open at its end (floating-point sums may land a hair either side of it).
                let inWindow = sends[i...].prefix { $0 < start + 1 - 1e-9 }.count
                #expect(Double(inWindow) <= Double(limit.burst) + limit.perSecond * 1 + 1e-9)
            }
        }
    }

    @Test("as a quota: a burst is taken at once, the next slot is refused until it is due, and a refusal takes nothing")
    func quota() {
        let limit = RateLimit(perSecond: 2, burst: 4)
        #expect(GCRA.refusal(tat: nil, now: 100, count: 4, limit: limit) == 0)
        let tat = GCRA.advance(tat: nil, now: 100, count: 4, limit: limit)
        #expect(GCRA.refusal(tat: tat, now: 100, count: 1, limit: limit) == 0.5)
        #expect(GCRA.refusal(tat: tat, now: 100.5, count: 1, limit: limit) == 0)
        #expect(GCRA.refusal(tat: tat, now: 100, count: 4, limit: limit) == 2)
        #expect(GCRA.refusal(tat: nil, now: 100, count: 5, limit: limit) == 0.5, "more than the burst never passes at once")
        #expect(GCRA.refusal(tat: 50, now: 100, count: 4, limit: limit) == 0, "a quiet spell refills the burst, no more")
    }
}
