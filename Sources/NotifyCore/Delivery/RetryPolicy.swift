/// When a failed delivery is tried again: one list of delays per lane (the retry tiers), each tier a queue
/// whose messages all wait the same time (`notifications.retry.<delay>`), then back to the lane.
public struct RetryPolicy: Sendable, Equatable {
    /// Delays in seconds, by lane; the number of tiers is the number of retries (attempts = tiers + 1).
    public var tiers: [NotificationPriority: [Int]] = [
        .high: [2, 10, 30],
        .normal: [30, 120, 600, 3600, 21_600],
        .low: [30, 120, 600, 3600, 21_600],
    ]

    public init() {}

    /// What follows an attempt.
    public enum Next: Sendable, Equatable {
        /// Wait `delaySeconds` in its tier, then try again.
        case retry(delaySeconds: Int)
        /// No more attempts: park it with its reason.
        case dead
        /// The provider is down: hand the job back without spending an attempt, and stop using the provider.
        case holdProvider
        /// The provider throttles: push its schedule by `seconds` and pace the job again, its attempt unspent.
        case throttled(seconds: Double)
    }

    /// The wait a 429 without a usable `Retry-After` pushes the provider's schedule by.
    public static let defaultThrottleSeconds = 1.0
    /// The longest `Retry-After` honoured; a longer one (or a date far off) is cut to this.
    public static let maxThrottleSeconds = 3600.0

    /// After attempt number `attempt` (1 for the first) on `lane` failed with `failure`; a job without `retries`
    /// is dead at its first transient failure (a held provider or a throttle still spends no attempt).
    public func next(after failure: DeliveryFailure, attempt: Int, lane: NotificationPriority, retries: Bool = true) -> Next {
        switch failure.failureClass {
        case .provider: return .holdProvider
        case .throttled:
            let seconds = failure.retryAfter.map { Swift.min(Swift.max($0, 0), Self.maxThrottleSeconds) }
            return .throttled(seconds: seconds ?? Self.defaultThrottleSeconds)
        case .permanent: return .dead
        case .transient:
            let delays = tiers[lane] ?? []
            return retries && attempt >= 1 && attempt <= delays.count ? .retry(delaySeconds: delays[attempt - 1]) : .dead
        }
    }

    /// The tier that waits out a pacing delay of `seconds` on `lane` (a rate limit's next slot too far off to
    /// hold the job for): the shortest that waits at least that long, else the longest (the job is paced again
    /// when it comes back). Nil when the lane has no tiers.
    public func deferral(waiting seconds: Double, lane: NotificationPriority) -> Int? {
        let delays = (tiers[lane] ?? []).sorted()
        return delays.first { Double($0) >= seconds } ?? delays.last
    }

    /// Every distinct delay, sorted: one tier queue each, shared by the lanes that use it.
    public var distinctDelays: [Int] { Set(tiers.values.joined()).sorted() }

    /// A tier's name suffix: `2s`, `2m`, `1h`, or seconds when no larger unit divides it.
    public static func tierName(_ seconds: Int) -> String {
        if seconds % 3600 == 0 { return "\(seconds / 3600)h" }
        if seconds % 60 == 0 { return "\(seconds / 60)m" }
        return "\(seconds)s"
    }
}
