/// An event to publish through the transactional outbox.
public struct OutboxMessage: Sendable, Equatable {
    public var messageID: String
    public var exchange: String
    public var routingKey: String
    public var type: String
    public var version: String
    /// What caused it: the adjustment's `event_id`, or the reconciliation round.
    public var correlationID: String
    public var body: String
    /// The relay publishes lower numbers first: 0 for high-lane delivery jobs, 1 for events and the normal
    /// lane, 2 for the low lane; so a campaign still in the outbox never holds back an urgent email.
    public var priority: Int = 1

    /// An OutOfStock 0.0.4 on its contract routing key.
    public init(_ event: OutOfStock, exchange: String, correlationID: String) {
        messageID = event.eventID
        self.exchange = exchange
        routingKey = EventKind.outOfStock.routingKey
        type = EventKind.outOfStock.rawValue
        version = OutOfStock.version
        self.correlationID = correlationID
        body = String(decoding: event.body.bytes, as: UTF8.self)
    }
}
