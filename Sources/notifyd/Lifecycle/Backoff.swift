/// Exponential backoff with "equal jitter": each wait is between half and all of a delay that doubles from
/// `initial` up to `maximum`, so daemons retrying together spread out but none spins.
struct Backoff {
    private var delay: Duration
    private let maximum: Duration

    init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5)) {
        delay = initial
        self.maximum = maximum
    }

    mutating func next() -> Duration {
        defer { delay = min(delay * 2, maximum) }
        return delay / 2 + delay / 2 * Double.random(in: 0...1)
    }
}
