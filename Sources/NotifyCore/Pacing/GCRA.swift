/// A rate limit that paces: at most `perSecond` sends on average, `burst` at once after a quiet spell.
public struct RateLimit: Sendable, Equatable {
    public var perSecond: Double
    public var burst: Int

    public init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = Swift.max(1, burst)
    }

    /// Seconds between two sends at the limit (GCRA's emission interval T).
    public var interval: Double { 1 / perSecond }
    /// How far ahead of its schedule a send may go (GCRA's τ = (burst − 1)·T).
    public var tolerance: Double { Double(burst - 1) * interval }
}

/// The generic cell rate algorithm, as a schedule rather than a gate: the state is one number per key, the
/// theoretical arrival time (TAT), and reserving `count` slots moves it forward by `count` intervals from where
/// it was (or from now, after a quiet spell). The reserver then waits until its last slot is due: nothing is
/// refused, every caller gets its own slots, and the wait is exact. Shared between daemons, the TAT lives in
/// PostgreSQL and the database applies `advance` in one statement (`RateLimitStore`); this is the arithmetic
/// both sides follow, tested here without I/O.
public enum GCRA {
    /// The TAT after reserving `count` slots at `now`.
    public static func advance(tat: Double?, now: Double, count: Int, limit: RateLimit) -> Double {
        Swift.max(tat ?? now, now) + Double(count) * limit.interval
    }

    /// How long to wait at `now` before sending all `count` slots whose reservation left the TAT at `tat`: until
    /// the last of them is due, `tolerance` early. Zero when they are all due. Rounds of at most `burst` slots keep
    /// every second within `burst + perSecond` sends; a larger round would send its early slots late, in a bunch.
    public static func wait(afterReserving count: Int, tat: Double, now: Double, limit: RateLimit) -> Double {
        Swift.max(0, tat - limit.interval - limit.tolerance - now)
    }

    /// The TAT after handing `count` unused slots back (a reservation whose wait was too long to hold).
    public static func giveBack(count: Int, tat: Double, limit: RateLimit) -> Double {
        tat - Double(count) * limit.interval
    }

    /// The TAT after the provider asked us to wait `seconds` (a 429's `Retry-After`): pushed so the next slot
    /// anyone reserves is due no earlier than `now + seconds`, never pulled back.
    public static func pushed(tat: Double?, now: Double, by seconds: Double, limit: RateLimit) -> Double {
        Swift.max(tat ?? now, now + pushOffset(seconds, limit: limit))
    }

    /// How far past now `pushed` sets the TAT: the wait plus the early allowance (τ) that `wait` takes off.
    public static func pushOffset(_ seconds: Double, limit: RateLimit) -> Double { seconds + limit.tolerance }

    /// As a gate (a quota: refuse rather than wait): how long before `count` slots can be taken at once at `now` —
    /// zero when they can be now, and then the TAT moves to `advance`'s; otherwise nothing is taken. The same
    /// condition as `wait`: the last slot may be at most `tolerance` early.
    public static func refusal(tat: Double?, now: Double, count: Int, limit: RateLimit) -> Double {
        Swift.max(0, advance(tat: tat, now: now, count: count, limit: limit) - Double(limit.burst) * limit.interval - now)
    }
}
