import Foundation
import NotifyCore
import Testing

@Suite("What strangers may cost: request bodies against a budget, refusals counted per caller and kind")
struct RequestBoundsTests {
    @Test("a body's plan comes from its head: none, its declared length, its limit when chunked, or 413 past the limit")
    func bodyPlans() {
        #expect(BodyPlan(contentLength: nil, chunked: false, limit: 100) == .none)
        #expect(BodyPlan(contentLength: 0, chunked: false, limit: 100) == .none)
        #expect(BodyPlan(contentLength: 40, chunked: false, limit: 100) == .reserve(40))
        #expect(BodyPlan(contentLength: 100, chunked: false, limit: 100) == .reserve(100))
        #expect(BodyPlan(contentLength: 101, chunked: false, limit: 100) == .tooLarge(declared: 101))
        #expect(BodyPlan(contentLength: nil, chunked: true, limit: 100) == .reserve(100))
        #expect(!BodyPlan(contentLength: nil, chunked: false, limit: 100).hasBody)
        #expect(BodyPlan(contentLength: 1, chunked: false, limit: 100).hasBody)
    }

    @Test("the budget takes what fits and refuses the rest unchanged; releases make room again")
    func budget() {
        var budget = BodyBudget(capacity: 1_000)
        var taken: [Bool] = []
        for bytes in [600, 401] { taken.append(budget.reserve(bytes, for: "a")) }
        #expect(taken == [true, false], "past the budget")
        #expect(budget.reserved == 600, "a refusal takes nothing")
        for bytes in [400, 1] { taken.append(budget.reserve(bytes, for: "a")) }
        budget.release(600, for: "a")
        for bytes in [600, -1] { taken.append(budget.reserve(bytes, for: "a")) }
        #expect(taken == [true, false, true, false, true, false])
        #expect(budget.reserved == 1_000)
    }

    @Test("one caller holds at most its share: others still fit while it waits; callers holding nothing are forgotten")
    func perCaller() {
        var budget = BodyBudget(capacity: 1_000, perCaller: 250)
        let first = budget.reserve(200, for: "greedy"), more = budget.reserve(100, for: "greedy")
        #expect(first && !more, "past its share")
        let other = budget.reserve(250, for: "other"), third = budget.reserve(250, for: "third")
        #expect(other && third)
        #expect(budget.reserved == 700 && budget.callers == 3)
        budget.release(200, for: "greedy")
        budget.release(250, for: "other")
        #expect(budget.reserved == 250 && budget.callers == 1)
        let again = budget.reserve(250, for: "greedy")
        #expect(again)
    }

    static func refusal(
        _ actor: String?, _ command: Command = .sendNotification, status: Int = 401, address: String? = nil,
        detail: String = "no key"
    ) -> AuditEntry {
        let principal = actor.map { Principal(keyID: $0, scopes: [.send], tenant: nil, actor: "key:\($0)") }
        return .refused(
            command, by: principal, clientAddress: address, failure: CommandFailure(status: status, code: "x", message: detail),
            requestID: nil)
    }

    @Test("ten thousand refusals of one kind are one row with their count, the first one's time and reason")
    func counted() {
        var tally = RefusalTally()
        let start = Date(timeIntervalSince1970: 1_000)
        for second in 0..<10_000 {
            tally.count(Self.refusal(nil, address: "192.0.2.7", detail: "reason \(second)"), at: start + Double(second))
        }
        let rows = tally.take()
        #expect(rows.count == 1)
        #expect(rows.first?.count == 10_000)
        #expect(rows.first?.at == start && rows.first?.detail == "reason 0")
        #expect(rows.first?.actor == "anonymous" && rows.first?.clientAddress == "192.0.2.7")
        #expect(tally.take().isEmpty && tally.isEmpty, "taking starts the next window empty")
    }

    @Test("callers and kinds are told apart; an authenticated key is named and carries no address; an anonymous one only its address")
    func kinds() {
        var tally = RefusalTally()
        let now = Date()
        tally.count(Self.refusal(nil, address: "192.0.2.7"), at: now)
        tally.count(Self.refusal(nil, address: "192.0.2.8"), at: now)
        tally.count(Self.refusal(nil, .createProduct, address: "192.0.2.7"), at: now)
        tally.count(Self.refusal("abc", status: 403, address: "192.0.2.7"), at: now)
        tally.count(Self.refusal("abc", status: 403), at: now)
        tally.count(Self.refusal("abc", status: 429), at: now)
        let rows = tally.take()
        #expect(rows.map(\.count) == [1, 1, 1, 2, 1])
        #expect(rows[3].actor == "key:abc" && rows[3].clientAddress == nil)
        #expect(rows.map(\.outcome) == ["refused:401", "refused:401", "refused:401", "refused:403", "refused:429"])
    }

    @Test("past its capacity the tally counts the rest in one row that names nobody; reasons are cut short")
    func bounded() {
        var tally = RefusalTally(capacity: 3)
        let now = Date()
        for address in 0..<1_000 {
            tally.count(Self.refusal(nil, address: "192.0.2.\(address)", detail: String(repeating: "x", count: 10_000)), at: now)
        }
        let rows = tally.take()
        #expect(rows.count == 4)
        #expect(rows.last?.count == 997 && rows.last?.actor == "anonymous" && rows.last?.clientAddress == nil)
        #expect(rows.allSatisfy { ($0.detail?.count ?? 0) <= 200 })
        tally.count(rows[0], at: now, times: rows[0].count)
        #expect(tally.take().map(\.count) == [1], "a row not written is counted again")
    }

    @Test("strangers from many addresses are told apart up to the anonymous share; callers with a key still get rows of their own")
    func anonymousShare() {
        var tally = RefusalTally(capacity: 10, anonymousCapacity: 2)
        let now = Date()
        for address in 0..<50 { tally.count(Self.refusal(nil, address: "2001:db8::\(address)"), at: now) }
        for key in ["k1", "k2"] { tally.count(Self.refusal(key, status: 403), at: now) }
        let rows = tally.take()
        #expect(rows.map(\.actor) == ["anonymous", "anonymous", "key:k1", "key:k2", "anonymous"], "\(rows.map(\.actor))")
        #expect(rows.last?.count == 48 && rows.last?.clientAddress == nil)
    }
}
