/// Which sends of a group commit fit their tenants' quotas, as a value with no I/O: the send committer takes the
/// slots it is asked to (all of a take's schedules or none, `RateLimitStore.admit`) and says what each take came to.
/// A tenant's sends take their slots together when they fit; if not, one by one in order, as many as fit. A send
/// takes slots of every schedule it counts against (an organisation's and its product's), or of none.
public struct QuotaAdmission: Sendable {
    /// One send of the group: its tenant (nil: FlowMart's), the slots it needs (its notifications), and the schedules
    /// it counts against (`TenantQuotas.schedules`).
    public struct Send: Sendable {
        public var tenant: Tenant?
        public var slots: Int
        public var schedules: [(key: String, limit: RateLimit)]

        public init(tenant: Tenant?, slots: Int, schedules: [(key: String, limit: RateLimit)]) {
            self.tenant = tenant
            self.slots = slots
            self.schedules = schedules
        }
    }

    /// `count` slots of each of `schedules`, all or none, for the sends at `indices`.
    public struct Take: Sendable {
        public var indices: [Int]
        public var count: Int
        public var schedules: [(key: String, limit: RateLimit)]
    }

    private let sends: [Send]
    /// The sends by tenant, in the order each tenant first appears.
    private let tenants: [[Int]]
    private var tenant = 0
    /// Nil: the tenant's sends are taking their slots together; else the place of the send taking its own.
    private var alone: Int?
    /// The sends within their quotas, in the order they were admitted.
    public private(set) var admitted: [Int] = []
    /// The sends over a quota, each with the seconds until its slots could be taken.
    public private(set) var refused: [(index: Int, retryAfter: Int)] = []

    public init(_ sends: [Send]) {
        self.sends = sends
        var order: [Tenant?] = []
        var byTenant: [Tenant?: [Int]] = [:]
        for (index, send) in sends.enumerated() {
            if byTenant[send.tenant] == nil { order.append(send.tenant) }
            byTenant[send.tenant, default: []].append(index)
        }
        tenants = order.map { byTenant[$0] ?? [] }
    }

    /// The next take to make; nil when every send is admitted or refused.
    public func next() -> Take? {
        guard tenant < tenants.count else { return nil }
        let indices = tenants[tenant]
        guard let alone else {
            return Take(indices: indices, count: indices.reduce(0) { $0 + sends[$1].slots }, schedules: sends[indices[0]].schedules)
        }
        let index = indices[alone]
        return Take(indices: [index], count: sends[index].slots, schedules: sends[index].schedules)
    }

    /// What the take `next` asked for came to: nil when the slots were taken, else the seconds until they could be.
    public mutating func took(refusedFor retryAfter: Int?) {
        guard tenant < tenants.count else { return }
        let indices = tenants[tenant]
        guard let place = alone else {
            if retryAfter == nil {
                admitted += indices
                tenant += 1
            } else {
                alone = 0
            }
            return
        }
        if let retryAfter { refused.append((indices[place], retryAfter)) } else { admitted.append(indices[place]) }
        if place + 1 < indices.count {
            alone = place + 1
        } else {
            alone = nil
            tenant += 1
        }
    }
}
