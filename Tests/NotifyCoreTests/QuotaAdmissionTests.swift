import Foundation
import NotifyCore
import Testing

/// Which sends of a group commit fit their tenants' quotas, driven here as the send committer drives it, with the
/// schedules' answers given by hand.
@Suite("Quota admission: a tenant's sends together, else one by one (no I/O)")
struct QuotaAdmissionTests {
    static let shop = Tenant(productID: UUID(uuidString: "11111111-1111-4111-8111-111111111111")!)
    static let other = Tenant(productID: UUID(uuidString: "22222222-2222-4222-8222-222222222222")!)
    static let limit = RateLimit(perSecond: 1, burst: 5)

    static func send(_ tenant: Tenant?, _ slots: Int) -> QuotaAdmission.Send {
        QuotaAdmission.Send(tenant: tenant, slots: slots, schedules: tenant.map { [(TenantQuotas.key(of: $0.productID), limit)] } ?? [])
    }

    /// Runs the admission, answering each take with `answer` (nil: taken); returns the takes it asked for.
    static func run(_ admission: inout QuotaAdmission, _ answer: (QuotaAdmission.Take) -> Int?) -> [(indices: [Int], count: Int)] {
        var takes: [(indices: [Int], count: Int)] = []
        while let take = admission.next() {
            takes.append((take.indices, take.count))
            admission.took(refusedFor: answer(take))
        }
        return takes
    }

    @Test("each tenant's sends take their slots in one take when they fit, tenants in the order they first appear")
    func together() {
        var admission = QuotaAdmission([Self.send(Self.shop, 2), Self.send(Self.other, 1), Self.send(Self.shop, 3)])
        let takes = Self.run(&admission) { _ in nil }
        #expect(takes.map(\.indices) == [[0, 2], [1]] && takes.map(\.count) == [5, 1])
        #expect(admission.admitted.sorted() == [0, 1, 2] && admission.refused.isEmpty)
    }

    @Test("a tenant over its quota together: one by one in order, as many as fit; the rest refused with their Retry-After")
    func oneByOne() {
        var admission = QuotaAdmission([
            Self.send(Self.shop, 3), Self.send(Self.shop, 3), Self.send(Self.other, 1), Self.send(Self.shop, 1),
        ])
        var left = 4
        let takes = Self.run(&admission) { take in
            guard take.schedules.first?.key == TenantQuotas.key(of: Self.shop.productID) else { return nil }
            guard take.count <= left else { return 2 }
            left -= take.count
            return nil
        }
        #expect(takes.map(\.indices) == [[0, 1, 3], [0], [1], [3], [2]])
        #expect(admission.admitted == [0, 3, 2])
        #expect(admission.refused.map(\.index) == [1] && admission.refused.map(\.retryAfter) == [2])
    }

    @Test("no sends: nothing to take")
    func empty() {
        var admission = QuotaAdmission([])
        #expect(admission.next() == nil)
        admission.took(refusedFor: 1)
        #expect(admission.admitted.isEmpty && admission.refused.isEmpty)
    }
}
