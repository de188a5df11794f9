import AMQP
import NotifyCore

extension AMQPTopology {
    /// The exchanges, queues and bindings of the contract (docs/api.md), declared (idempotently) at every start and reconnect.
    ///
    /// Queue types: the events and dead-letter queues are quorum queues, so a message that keeps crashing its
    /// consumer is parked after `deliveryLimit` redeliveries instead of looping forever; the RPC queue's requests
    /// expire after `rpcRequestTTLMilliseconds`, so nobody is answered who gave up. It is a classic queue unless
    /// `rpcQueueType` is `quorum` (a cluster: a classic queue is unavailable while the node that holds it is down).
    static func contract(_ names: ContractNames, deliveryLimit: Int, rpcRequestTTLMilliseconds: Int, rpcQueueType: String = "classic")
        -> AMQPTopology
    {
        AMQPTopology(
            exchanges: [
                .init(name: names.eventsExchange, type: "topic"),
                .init(name: names.deadLetterExchange, type: "fanout"),
            ],
            queues: [
                .init(
                    name: names.eventsQueue,
                    arguments: [
                        "x-queue-type": "quorum",
                        "x-delivery-limit": .int(Int64(deliveryLimit)),
                        "x-dead-letter-exchange": .string(names.deadLetterExchange),
                    ]),
                .init(name: names.deadLetterQueue, arguments: ["x-queue-type": "quorum"]),
                .init(
                    name: names.rpcQueue,
                    arguments: ["x-message-ttl": .int(Int64(rpcRequestTTLMilliseconds))]
                        .merging(rpcQueueType == "quorum" ? ["x-queue-type": "quorum"] : [:]) { $1 }),
            ],
            bindings: ContractNames.consumedRoutingKeys.map {
                .init(queue: names.eventsQueue, exchange: names.eventsExchange, routingKey: $0)
            } + [.init(queue: names.deadLetterQueue, exchange: names.deadLetterExchange, routingKey: "")]
        )
    }

    /// The delivery pipeline: the work exchange and a quorum queue per lane, and a retry tier per distinct delay
    /// — a fanout exchange and a quorum queue whose messages all wait the same TTL, then dead-letter (at least
    /// once) back to the work exchange on their lane's routing key. No per-message TTL, so expiry is exact.
    static func delivery(_ names: ContractNames, retry: RetryPolicy) -> AMQPTopology {
        AMQPTopology(
            exchanges: [.init(name: names.workExchange, type: "direct")]
                + retry.distinctDelays.map { .init(name: names.retryTier($0), type: "fanout") },
            queues: NotificationPriority.allCases.map { .init(name: names.laneQueue($0), arguments: ["x-queue-type": "quorum"]) }
                + retry.distinctDelays.map { delay in
                    .init(
                        name: names.retryTier(delay),
                        arguments: [
                            "x-queue-type": "quorum", "x-message-ttl": .int(Int64(delay) * 1000),
                            "x-dead-letter-exchange": .string(names.workExchange),
                            "x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish",
                        ])
                },
            bindings: NotificationPriority.allCases.map {
                .init(queue: names.laneQueue($0), exchange: names.workExchange, routingKey: $0.rawValue)
            } + retry.distinctDelays.map { .init(queue: names.retryTier($0), exchange: names.retryTier($0), routingKey: "") }
        )
    }
}
