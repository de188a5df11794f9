/// When a provider's breaker opens and for how long (docs/architecture.md, "Circuit breakers and
/// failover"; the defaults after resilience4j): above `failureRatePercent` failures among the last `window` calls, once at least `minimumCalls`
/// were made; open for `openSeconds`, doubling on each reopening up to `maxOpenSeconds`; then `halfOpenProbes`
/// calls decide whether it closes.
public struct BreakerPolicy: Sendable, Equatable {
    public var failureRatePercent = 50
    public var window = 50
    public var minimumCalls = 20
    public var openSeconds = 30.0
    public var maxOpenSeconds = 300.0
    public var halfOpenProbes = 5

    public init() {}
}

/// One provider's circuit breaker, as a value: the delivery worker records what each send came to and asks how
/// many calls it may make now. What counts (`counts(_:)`): timeouts, connection errors, 5xx and a provider that
/// refuses us count as failures; a message the provider accepted counts as a success; an error about one message
/// (an invalid number, a refused recipient) and a 429 count as neither. A provider-wide failure (unreachable,
/// credentials refused) opens the breaker at once: nothing can go through it.
public struct CircuitBreaker: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case closed
        /// No calls until `until` (seconds since 1970); then half-open.
        case open(until: Double)
        /// `probes` calls may go; `succeeded` of those made so far did.
        case halfOpen(probes: Int, succeeded: Int)
    }

    public let policy: BreakerPolicy
    public private(set) var state = State.closed
    /// The last `window` outcomes, oldest first: true for a failure.
    private var outcomes: [Bool] = []
    /// Openings since the breaker last closed: each one doubles the open time.
    private var openings = 0
    /// Why it last opened, for health and logs.
    public private(set) var reason: String?
    /// The last failure that counted: what a job held while the breaker is open is recorded with.
    public private(set) var lastFailure: DeliveryFailure?

    public init(policy: BreakerPolicy) {
        self.policy = policy
    }

    /// How a result counts: true a failure, false a success, nil neither.
    public static func counts(_ result: DeliveryResult) -> Bool? {
        switch result {
        case .sent: false
        case .failed(let failure):
            switch failure.failureClass {
            case .transient, .provider: true
            case .permanent, .throttled: nil
            }
        }
    }

    /// How many calls may go at `now`: all while closed, none while open, the probes left while half-open.
    public mutating func admits(now: Double) -> Int {
        switch state {
        case .closed: return .max
        case .open(let until):
            guard now >= until else { return 0 }
            state = .halfOpen(probes: policy.halfOpenProbes, succeeded: 0)
            return policy.halfOpenProbes
        case .halfOpen(let probes, _): return probes
        }
    }

    /// When it will admit a call again: now unless open.
    public var reopensAt: Double? { if case .open(let until) = state { until } else { nil } }

    public enum Change: Sendable, Equatable { case opened(forSeconds: Double), closed }

    /// Records the results of one send made at `now`; returns the change of state it caused, if any.
    public mutating func record(_ results: [DeliveryResult], now: Double) -> Change? {
        var providerWide: DeliveryFailure?
        var failed = 0
        var succeeded = 0
        for result in results {
            guard let failure = Self.counts(result) else { continue }
            if failure { failed += 1 } else { succeeded += 1 }
            if case .failed(let error) = result {
                lastFailure = error
                if error.failureClass == .provider { providerWide = error }
            }
        }
        switch state {
        case .open:
            return nil
        case .halfOpen(let probes, let probesSucceeded):
            if failed > 0 { return open(now: now, because: providerWide?.description ?? "a probe failed") }
            let made = Swift.min(probes, succeeded)
            guard made > 0 else { return nil }
            if probes - made > 0 {
                state = .halfOpen(probes: probes - made, succeeded: probesSucceeded + made)
                return nil
            }
            state = .closed
            openings = 0
            outcomes = []
            reason = nil
            return .closed
        case .closed:
            if let providerWide { return open(now: now, because: providerWide.description) }
            outcomes += Array(repeating: true, count: failed) + Array(repeating: false, count: succeeded)
            if outcomes.count > policy.window { outcomes.removeFirst(outcomes.count - policy.window) }
            let failures = outcomes.count { $0 }
            guard outcomes.count >= policy.minimumCalls, failures * 100 > policy.failureRatePercent * outcomes.count else { return nil }
            return open(now: now, because: "\(failures) of the last \(outcomes.count) calls failed")
        }
    }

    private mutating func open(now: Double, because reason: String) -> Change {
        let seconds = Swift.min(policy.maxOpenSeconds, policy.openSeconds * Double(1 << Swift.min(openings, 20)))
        openings += 1
        state = .open(until: now + seconds)
        outcomes = []
        self.reason = reason
        return .opened(forSeconds: seconds)
    }
}
