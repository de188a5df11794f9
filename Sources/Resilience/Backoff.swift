/// Exponential backoff with "equal jitter": each wait is between half and all of a delay that doubles from
/// `initial` up to `maximum`, so daemons retrying together spread out but none spins. The one backoff of every
/// retry loop: the AMQP reconnect, database retries, the parker and the outbox relay.
public struct Backoff: Sendable {
    private let initial: Duration
    private let maximum: Duration
    private var delay: Duration

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        self.initial = initial
        self.maximum = max(initial, maximum)
        delay = initial
    }

    /// The next wait; `unit` (0...1) is the jitter, random unless given.
    public mutating func next(unit: Double = Double.random(in: 0...1)) -> Duration {
        defer { delay = min(delay * 2, maximum) }
        return delay / 2 + delay / 2 * min(max(unit, 0), 1)
    }

    /// Starts again from `initial` (after a success).
    public mutating func reset() {
        delay = initial
    }
}
