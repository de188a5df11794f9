import Foundation

/// What one consumed event asks for, decided from the event alone (before any stored state is known).
public enum EventEffect: Sendable, Equatable {
    /// A notification (a payment a rule asks to announce).
    case notify(NewNotification)
    /// A stock adjustment: what it causes depends on the stored level, so the planner decides it under the lock.
    case adjustStock(InventoryAdjusted)
    /// Recorded for deduplication and nothing else (no rule asks for a notification).
    case recordOnly
}

/// A consumed event with its deduplication key (`consumer`, `key`) and what it asks for.
public struct ConsumedEvent: Sendable, Equatable {
    public var consumer: String
    public var key: String
    public var effect: EventEffect

    public init(consumer: String, key: String, effect: EventEffect) {
        self.consumer = consumer
        self.key = key
        self.effect = effect
    }

    /// The stock adjustment, when the event is one.
    public var adjustment: InventoryAdjusted? {
        if case .adjustStock(let adjustment) = effect { adjustment } else { nil }
    }
}
