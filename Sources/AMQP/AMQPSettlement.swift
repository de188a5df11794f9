/// How a batch of deliveries is settled, decided without I/O and sent in one turn of the connection's thread.
///
/// A delivery tag means something only on the connection incarnation that delivered it, and one `multiple` ack
/// covers every earlier unsettled tag of that incarnation. Callers name deliveries; this type works out the
/// operations: single settlements first, then one `multiple` operation on the newest other delivery of each
/// incarnation. Operations for an earlier incarnation are dropped by the connection (the broker requeued those).
public struct AMQPSettlement: Sendable, Equatable {
    /// What the broker is told about one delivery tag (and, with `multiple`, every earlier one).
    enum Kind: Sendable, Equatable {
        case ack(multiple: Bool)
        case nack(multiple: Bool, requeue: Bool)
        case reject(requeue: Bool)

        var isMultiple: Bool {
            switch self {
            case .ack(let multiple), .nack(let multiple, _): multiple
            case .reject: false
            }
        }
    }

    struct Operation: Sendable, Equatable {
        var generation: UInt64
        var tag: UInt64
        var kind: Kind
    }

    let operations: [Operation]

    /// Settles a batch taken in delivery order: `requeueing` deliveries are nacked back to the queue and
    /// `rejecting` ones are rejected without requeue (the queue's dead-letter exchange takes them), one by one;
    /// everything else in `batch` is acked.
    public static func accept(
        _ batch: [AMQPDelivery], requeueing: [AMQPDelivery] = [], rejecting: [AMQPDelivery] = []
    ) -> AMQPSettlement {
        let single =
            requeueing.map { Operation($0, .nack(multiple: false, requeue: true)) }
            + rejecting.map { Operation($0, .reject(requeue: false)) }
        let settled = Set(single.map { Delivery(generation: $0.generation, tag: $0.tag) })
        let rest = batch.filter { !settled.contains(Delivery(generation: $0.generation, tag: $0.deliveryTag)) }
        return AMQPSettlement(operations: single + newestOfEachGeneration(rest).map { Operation($0, .ack(multiple: true)) })
    }

    /// Settles each delivery on its own (no `multiple`): for consumers whose batches finish out of order (several
    /// workers on one connection), where a `multiple` ack would settle another worker's deliveries.
    public static func individually(acking: [AMQPDelivery], requeueing: [AMQPDelivery] = []) -> AMQPSettlement {
        AMQPSettlement(
            operations: acking.map { Operation($0, .ack(multiple: false)) }
                + requeueing.map { Operation($0, .nack(multiple: false, requeue: true)) })
    }

    /// Hands a whole batch back to the queue (nothing is acked): one `multiple` nack with requeue per incarnation.
    public static func requeue(_ batch: [AMQPDelivery]) -> AMQPSettlement {
        AMQPSettlement(operations: newestOfEachGeneration(batch).map { Operation($0, .nack(multiple: true, requeue: true)) })
    }

    /// One delivery alone.
    static func single(_ delivery: AMQPDelivery, _ kind: Kind) -> AMQPSettlement {
        AMQPSettlement(operations: [Operation(delivery, kind)])
    }

    private struct Delivery: Hashable {
        var generation: UInt64
        var tag: UInt64
    }

    private static func newestOfEachGeneration(_ batch: [AMQPDelivery]) -> [AMQPDelivery] {
        var newest: [UInt64: AMQPDelivery] = [:]
        for delivery in batch where delivery.deliveryTag > newest[delivery.generation]?.deliveryTag ?? 0 {
            newest[delivery.generation] = delivery
        }
        return newest.values.sorted { $0.generation < $1.generation }
    }
}

extension AMQPSettlement.Operation {
    init(_ delivery: AMQPDelivery, _ kind: AMQPSettlement.Kind) {
        self.init(generation: delivery.generation, tag: delivery.deliveryTag, kind: kind)
    }
}
