/// Exchanges, queues and bindings a connection declares, and declares again after every reconnect.
public struct AMQPTopology: Sendable, Equatable {
    public var exchanges: [Exchange] = []
    public var queues: [Queue] = []
    public var bindings: [Binding] = []

    public init(exchanges: [Exchange] = [], queues: [Queue] = [], bindings: [Binding] = []) {
        self.exchanges = exchanges
        self.queues = queues
        self.bindings = bindings
    }

    public struct Exchange: Sendable, Equatable {
        public var name: String
        /// `direct`, `fanout`, `topic` or `headers`.
        public var type: String
        public var durable: Bool
        public init(name: String, type: String, durable: Bool = true) {
            self.name = name
            self.type = type
            self.durable = durable
        }
    }

    public struct Queue: Sendable, Equatable {
        public var name: String
        public var durable: Bool
        public var exclusive: Bool
        public var autoDelete: Bool
        /// `x-queue-type`, `x-dead-letter-exchange`, `x-message-ttl`, `x-max-priority`, ...
        public var arguments: [String: AMQPFieldValue]
        public init(
            name: String, durable: Bool = true, exclusive: Bool = false, autoDelete: Bool = false,
            arguments: [String: AMQPFieldValue] = [:]
        ) {
            self.name = name
            self.durable = durable
            self.exclusive = exclusive
            self.autoDelete = autoDelete
            self.arguments = arguments
        }
    }

    public struct Binding: Sendable, Equatable {
        public var queue: String
        public var exchange: String
        public var routingKey: String
        public init(queue: String, exchange: String, routingKey: String) {
            self.queue = queue
            self.exchange = exchange
            self.routingKey = routingKey
        }
    }

    /// This topology followed by `other`'s declarations that it does not already hold.
    public func merging(_ other: AMQPTopology) -> AMQPTopology {
        var result = self
        result.exchanges += other.exchanges.filter { !exchanges.contains($0) }
        result.queues += other.queues.filter { !queues.contains($0) }
        result.bindings += other.bindings.filter { !bindings.contains($0) }
        return result
    }
}

/// Queue depth and consumer count from a passive declare.
public struct AMQPQueueStatus: Sendable, Equatable {
    public var name: String
    public var messageCount: UInt32
    public var consumerCount: UInt32
}
