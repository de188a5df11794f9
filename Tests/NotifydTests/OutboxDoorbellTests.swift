import Testing

@testable import notifyd

@Suite("The outbox relay's doorbell")
struct OutboxDoorbellTests {
    @Test("a ring wakes a waiting relay at once; one rung while none waited is kept for the next wait; unrung, the wait times out")
    func wakes() async {
        let bell = OutboxDoorbell()
        let clock = ContinuousClock()

        let waiting = Task { await clock.measure { await bell.wait(atMost: .seconds(30)) } }
        try? await Task.sleep(for: .milliseconds(100))
        bell.ring()
        #expect(await waiting.value < .seconds(5), "a ring during the wait ends it")

        bell.ring()
        #expect(await clock.measure { await bell.wait(atMost: .seconds(30)) } < .seconds(5), "an earlier ring is kept")

        let unrung = await clock.measure { await bell.wait(atMost: .milliseconds(200)) }
        #expect(unrung >= .milliseconds(200), "without a ring, the poll interval")

        // Many waits in a row, rung or not, leave nothing behind that would end a later wait early.
        for round in 0..<200 {
            if round.isMultiple(of: 2) { bell.ring() }
            await bell.wait(atMost: .milliseconds(1))
        }
        #expect(await clock.measure { await bell.wait(atMost: .milliseconds(100)) } >= .milliseconds(100))
    }
}
