import AMQP
import NotifyCore

extension AMQPTopology {
    /// The exchanges, queues and bindings of `CONTRACT.md`, declared (idempotently) at every start and reconnect.
    ///
    /// Queue types: the events and dead-letter queues are quorum queues, so a message that keeps crashing its
    /// consumer is parked after `deliveryLimit` redeliveries instead of looping forever; the RPC queue is a
    /// classic queue whose requests expire after `rpcRequestTTLMilliseconds`, so nobody is answered who gave up.
    static func contract(_ names: ContractNames, deliveryLimit: Int, rpcRequestTTLMilliseconds: Int) -> AMQPTopology {
        AMQPTopology(
            exchanges: [
                .init(name: names.eventsExchange, type: "topic"),
                .init(name: names.deadLetterExchange, type: "fanout"),
            ],
            queues: [
                .init(name: names.eventsQueue, arguments: [
                    "x-queue-type": "quorum",
                    "x-delivery-limit": .int(Int64(deliveryLimit)),
                    "x-dead-letter-exchange": .string(names.deadLetterExchange),
                ]),
                .init(name: names.deadLetterQueue, arguments: ["x-queue-type": "quorum"]),
                .init(name: names.rpcQueue, arguments: ["x-message-ttl": .int(Int64(rpcRequestTTLMilliseconds))]),
            ],
            bindings: ContractNames.consumedRoutingKeys.map {
                .init(queue: names.eventsQueue, exchange: names.eventsExchange, routingKey: $0)
            } + [.init(queue: names.deadLetterQueue, exchange: names.deadLetterExchange, routingKey: "")]
        )
    }
}
