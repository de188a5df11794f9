/// Which lane a worker takes its next batch from: `high` strictly first; between `normal` and `low`, weighted
/// (`normal` gets `normalPerLow` turns for each of `low`'s), so a campaign on `low` never starves and never
/// holds back `normal`. Pure state; the delivery worker asks it with the lanes' current depths.
public struct LaneScheduler: Sendable, Equatable {
    public var normalPerLow: Int
    /// `normal` turns taken since `low`'s last.
    private var normalTurns = 0

    public init(normalPerLow: Int = 4) { self.normalPerLow = max(1, normalPerLow) }

    /// The lane to take from, given whether each lane has work; nil when none has.
    public mutating func next(hasWork: (NotificationPriority) -> Bool) -> NotificationPriority? {
        if hasWork(.high) { return .high }
        switch (hasWork(.normal), hasWork(.low)) {
        case (true, true):
            if normalTurns < normalPerLow {
                normalTurns += 1
                return .normal
            }
            normalTurns = 0
            return .low
        case (true, false):
            return .normal
        case (false, true):
            normalTurns = 0
            return .low
        case (false, false):
            return nil
        }
    }
}
