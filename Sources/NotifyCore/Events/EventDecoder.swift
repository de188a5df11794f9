import Foundation

/// What a consumed message means, decided without I/O: routing key → event kind → validated event and its
/// deduplication key. Everything an untrusted publisher controls passes through here (and the fuzz tests).
public struct EventDecoder: Sendable {
    public var input: JSONInput
    public var window: TimestampWindow

    public init(input: JSONInput = JSONInput(), window: TimestampWindow = TimestampWindow()) {
        self.input = input
        self.window = window
    }

    public enum Event: Sendable, Equatable {
        case payment(PaymentProcessed)
        case inventory(InventoryAdjusted)
    }

    /// A validated event and the contract's deduplication key: `message_id`, else the payload's own id.
    public struct Decoded: Sendable, Equatable {
        public var kind: EventKind
        public var key: String
        public var event: Event
    }

    /// Throws the rejection the message is parked with.
    public func decode(routingKey: String, messageID: String?, body: [UInt8], now: Date) throws(Rejection) -> Decoded {
        let messageID = messageID.flatMap { $0.isEmpty ? nil : $0 }
        switch EventKind(routingKey: routingKey) {
        case .paymentProcessed:
            let payment = try PaymentProcessed(try input.object(from: body))
            try window.check(payment.timestamp, field: "timestamp", now: now)
            return Decoded(kind: .paymentProcessed, key: messageID ?? payment.transactionID, event: .payment(payment))
        case .inventoryAdjusted:
            let adjustment = try InventoryAdjusted(try input.object(from: body))
            try window.check(adjustment.timestamp, field: "timestamp", now: now)
            return Decoded(kind: .inventoryAdjusted, key: messageID ?? adjustment.eventID, event: .inventory(adjustment))
        case .outOfStock, nil:
            throw Rejection(.unknownRoutingKey, "routing key '\(routingKey.logSafe(limit: 100))' is not handled by this service")
        }
    }
}
