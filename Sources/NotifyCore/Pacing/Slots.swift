/// `count` slots of `key`'s shared schedule, paced by `limit`: what a delivery round asks the schedules for
/// (`RateLimitStore.reserve`) before a provider call, and gives back when it will not use them.
public struct SlotRequest: Sendable, Equatable {
    public var key: String
    public var count: Int
    public var limit: RateLimit

    public init(key: String, count: Int, limit: RateLimit) {
        self.key = key
        self.count = count
        self.limit = limit
    }

    /// How far the slots move the schedule.
    public var seconds: Double { Double(count) * limit.interval }

    /// How long to wait before all the slots are due, given what reserving them left (`GCRA.wait`).
    public func wait(after reservation: SlotReservation) -> Double {
        GCRA.wait(afterReserving: count, tat: reservation.tat, now: reservation.now, limit: limit)
    }
}

/// What reserving a key's slots left: its TAT and the database's now, in seconds since 1970.
public struct SlotReservation: Sendable, Equatable {
    public var tat: Double
    public var now: Double

    public init(tat: Double, now: Double) {
        self.tat = tat
        self.now = now
    }
}
