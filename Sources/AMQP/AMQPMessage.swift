/// Basic-class properties of a message. Every field is optional, as on the wire.
public struct AMQPProperties: Sendable, Equatable {
    public var contentType: String?
    public var contentEncoding: String?
    public var headers: [String: AMQPFieldValue] = [:]
    /// `delivery_mode` 2 (persistent) when true, 1 when false, absent when nil.
    public var persistent: Bool?
    public var priority: UInt8?
    public var correlationID: String?
    public var replyTo: String?
    /// Per-message TTL in milliseconds, as a decimal string (AMQP's own encoding).
    public var expiration: String?
    public var messageID: String?
    /// Seconds since the epoch.
    public var timestamp: UInt64?
    public var type: String?
    public var appID: String?
    /// Names of properties that were present on the wire but not valid UTF-8; they read as nil above. A message
    /// whose `message_id` is here cannot be deduplicated and should be refused, never guessed at.
    public var undecodable: [String] = []

    public init(
        contentType: String? = nil, headers: [String: AMQPFieldValue] = [:], persistent: Bool? = nil,
        correlationID: String? = nil, replyTo: String? = nil, messageID: String? = nil, timestamp: UInt64? = nil,
        type: String? = nil
    ) {
        self.contentType = contentType
        self.headers = headers
        self.persistent = persistent
        self.correlationID = correlationID
        self.replyTo = replyTo
        self.messageID = messageID
        self.timestamp = timestamp
        self.type = type
    }
}

/// A message to publish.
public struct AMQPOutgoingMessage: Sendable, Equatable {
    /// Target exchange; `""` is the default exchange, which routes by queue name.
    public var exchange: String
    public var routingKey: String
    public var body: [UInt8]
    public var properties: AMQPProperties
    /// Ask the broker to return the message when no queue takes it; the publish then ends `.returned` instead of
    /// `.confirmed`. For messages that must not vanish (parked copies).
    public var mandatory: Bool

    public init(
        exchange: String = "", routingKey: String, body: [UInt8], properties: AMQPProperties = .init(),
        mandatory: Bool = false
    ) {
        self.exchange = exchange
        self.routingKey = routingKey
        self.body = body
        self.properties = properties
        self.mandatory = mandatory
    }
}

/// A message delivered to a consumer. Settle it with `AMQPConnection.settle`, `ack`, `nack` or `reject`.
public struct AMQPDelivery: Sendable {
    /// Which connection incarnation delivered this message; a tag is only meaningful on that incarnation.
    let generation: UInt64
    public let deliveryTag: UInt64
    public let redelivered: Bool
    public let exchange: String
    public let routingKey: String
    public let consumerTag: String
    public let properties: AMQPProperties
    /// Empty when the body was larger than the consumer's `AMQPBodyLimit` allowed: see `omittedBodySize`.
    public let body: [UInt8]
    /// The size of a body that was not read because the consumer's `AMQPBodyLimit` did not allow it (the frames
    /// were dropped as they arrived); nil when `body` is the whole body.
    public let omittedBodySize: Int?
}

/// How much message body a consumer takes into memory, checked against the size in the content header before
/// any body frame is read.
public struct AMQPBodyLimit: Sendable, Equatable {
    /// Bodies up to this size are always read.
    public var ordinary: Int
    /// Larger bodies are read too while the larger bodies held (received and not yet settled) total at most
    /// this, so the consumer can still handle them whole (park them, say). Past it a body is not read and the
    /// delivery arrives with `omittedBodySize`. 0: never read a body larger than `ordinary`.
    public var oversizedBudget: Int

    public init(ordinary: Int, oversizedBudget: Int = 0) {
        self.ordinary = ordinary
        self.oversizedBudget = oversizedBudget
    }
}

/// What became of one published message.
public enum AMQPPublishOutcome: Sendable, Equatable {
    /// The broker took responsibility for it (`basic.ack`): persisted, for a persistent message on a durable queue.
    case confirmed
    /// The broker refused it (`basic.nack`), e.g. a full queue with `reject-publish`.
    case nacked
    /// A `mandatory` message no queue took (`basic.return`, then its confirm): nothing was enqueued.
    case returned
    /// No confirm came in time (broker alarm, lost connection that did not recover): the outcome is unknown and the
    /// message may or may not have been enqueued. Publish it again with the same `message_id`.
    case timedOut
}
