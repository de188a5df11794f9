import Resilience
import Testing

@testable import AMQP

/// The connection's bookkeeping without a broker: settlements and incarnations, body budgets, publisher confirms
/// and publish batches, RPC calls, the reconnect schedule.
@Suite("Connection state machine (no broker)")
struct ConnectionStateTests {
    static func delivery(_ tag: UInt64, generation: UInt64 = 1, consumer: String = "c") -> AMQPDelivery {
        AMQPDelivery(
            generation: generation, deliveryTag: tag, redelivered: false, exchange: "", routingKey: "q",
            consumerTag: consumer, properties: AMQPProperties(), body: [], omittedBodySize: nil)
    }

    static func state() -> ConnectionState {
        ConnectionState(confirmMode: true, reconnectInitialDelay: .milliseconds(100), reconnectMaxDelay: .seconds(10))
    }

    static func message(_ id: String, mandatory: Bool = false) -> AMQPOutgoingMessage {
        AMQPOutgoingMessage(exchange: "x", routingKey: "k", body: [], properties: AMQPProperties(messageID: id), mandatory: mandatory)
    }

    @Test("a batch settles single requeues and rejects first, then one multiple ack per incarnation")
    func acceptBatch() {
        let batch = [
            Self.delivery(7, generation: 1), Self.delivery(8, generation: 1),
            Self.delivery(1, generation: 2), Self.delivery(2, generation: 2), Self.delivery(3, generation: 2),
        ]
        let settlement = AMQPSettlement.accept(batch, requeueing: [batch[3]], rejecting: [batch[4]])
        #expect(
            settlement.operations == [
                .init(generation: 2, tag: 2, kind: .nack(multiple: false, requeue: true)),
                .init(generation: 2, tag: 3, kind: .reject(requeue: false)),
                .init(generation: 1, tag: 8, kind: .ack(multiple: true)),
                .init(generation: 2, tag: 1, kind: .ack(multiple: true)),
            ])
        #expect(
            AMQPSettlement.requeue(batch).operations == [
                .init(generation: 1, tag: 8, kind: .nack(multiple: true, requeue: true)),
                .init(generation: 2, tag: 3, kind: .nack(multiple: true, requeue: true)),
            ])
        #expect(AMQPSettlement.accept([]).operations.isEmpty)
    }

    @Test("settlements of an earlier incarnation are dropped after a reconnect")
    func staleSettlements() {
        var state = Self.state()
        _ = state.opened()
        let current = state.settle(.init(Self.delivery(5, generation: 1), .ack(multiple: true)))
        state.lost()
        _ = state.opened()
        let stale = state.settle(.init(Self.delivery(6, generation: 1), .ack(multiple: false)))
        let fresh = state.settle(.init(Self.delivery(1, generation: 2), .ack(multiple: false)))
        #expect(current && !stale && fresh)
        #expect(state.generation == 2)
    }

    @Test("oversized bodies are read within the budget, held until settled, and released by a multiple ack or a lost session")
    func bodyBudget() {
        var state = Self.state()
        _ = state.opened()
        state.add(
            .init(
                tag: "c", queue: "q", prefetch: 10, noAck: false,
                bodyLimit: AMQPBodyLimit(ordinary: 100, oversizedBudget: 1000), consumer: AMQPConsumer(tag: "c")))
        let accepted = [(1, 100), (2, 600), (3, 600), (4, 400)].map { tag, size in
            state.acceptBody(consumerTag: "c", deliveryTag: UInt64(tag), size: size)
        }
        #expect(accepted == [true, true, false, true], "the second 600 is over the budget")
        #expect(state.oversizedHeld(by: "c") == 1000)
        _ = state.settle(.init(Self.delivery(2), .reject(requeue: false)))
        #expect(state.oversizedHeld(by: "c") == 400)
        _ = state.settle(.init(Self.delivery(9), .ack(multiple: true)))
        #expect(state.oversizedHeld(by: "c") == 0)
        let afterRelease = state.acceptBody(consumerTag: "c", deliveryTag: 10, size: 900)
        #expect(afterRelease)
        state.lost()
        #expect(state.oversizedHeld(by: "c") == 0)
        let unlimited = state.acceptBody(consumerTag: "other", deliveryTag: 11, size: 1 << 30)
        #expect(unlimited, "a consumer without a limit reads everything")
    }

    @Test("confirms: multiple acks, nacks, a return before its confirm, and republishing what a lost session left unconfirmed")
    func confirms() async {
        let outcomes = await withCheckedContinuation { continuation in
            var state = Self.state()
            _ = state.opened()
            let batch = PublishBatch(
                messages: [Self.message("a"), Self.message("b", mandatory: true), Self.message("c"), Self.message("d")],
                deadline: .now + .seconds(60), continuation: continuation)
            state.enqueue(batch)
            let first = state.publishing(batch).map(\.properties.messageID)
            #expect(first == ["a", "b", "c", "d"])
            state.returned(exchange: "x", routingKey: "k", messageID: "b")
            state.confirm(tag: 2, multiple: true, acked: true)
            state.lost()
            let again = state.opened()
            #expect(again.count == 1)
            let second = state.publishing(batch).map(\.properties.messageID)
            #expect(second == ["c", "d"], "only the unconfirmed go again")
            state.publishingUnconfirmed()
            state.confirm(tag: 1, multiple: false, acked: false)
            state.confirm(tag: 3, multiple: true, acked: true)
            #expect(state.batches.isEmpty)
        }
        #expect(outcomes == [.confirmed, .returned, .nacked, .confirmed])
    }

    @Test("a session that nacks every publish for 3 s is to be reopened; an ack in between, or a new session, starts over")
    func refusingSession() {
        var state = Self.state()
        _ = state.opened()
        let start = ContinuousClock.now
        let r1 = state.confirm(tag: 1, multiple: false, acked: false, at: start)
        #expect(!r1)
        let r2 = state.confirm(tag: 2, multiple: false, acked: false, at: start + .seconds(2))
        #expect(!r2)
        let r3 = state.confirm(tag: 3, multiple: false, acked: true, at: start + .seconds(2.5))
        #expect(!r3, "an ack ends the streak")
        let r4 = state.confirm(tag: 4, multiple: false, acked: false, at: start + .seconds(4))
        #expect(!r4)
        let r5 = state.confirm(tag: 5, multiple: false, acked: false, at: start + .seconds(7))
        #expect(r5, "3 s of nothing but nacks")
        _ = state.opened()
        let r6 = state.confirm(tag: 1, multiple: false, acked: false, at: start + .seconds(8))
        #expect(!r6, "a new session starts over")
    }

    @Test("a batch past its deadline reports what is unconfirmed as timed out; so does an abandoned one")
    func deadlines() async {
        let start = ContinuousClock.now
        let outcomes = await withCheckedContinuation { continuation in
            var state = Self.state()
            _ = state.opened()
            let batch = PublishBatch(
                messages: [Self.message("a"), Self.message("b")], deadline: start + .seconds(1),
                continuation: continuation)
            state.enqueue(batch)
            _ = state.publishing(batch)
            state.confirm(tag: 1, multiple: false, acked: true)
            #expect(state.nextDeadline == start + .seconds(1))
            let early = state.expire(now: start)
            #expect(early.isEmpty && state.batches.count == 1)
            _ = state.expire(now: start + .seconds(1))
            #expect(state.batches.isEmpty && state.nextDeadline == nil)
        }
        #expect(outcomes == [.confirmed, .timedOut])
        let abandoned = await withCheckedContinuation { continuation in
            var state = Self.state()
            let batch = PublishBatch(messages: [Self.message("a")], deadline: .now + .seconds(60), continuation: continuation)
            state.enqueue(batch)
            state.abandon(batch)
        }
        #expect(abandoned == [.timedOut])
    }

    @Test("RPC calls: a reply finds its call once; a late reply finds none; expired calls are handed back")
    func calls() async {
        let start = ContinuousClock.now
        let reply = await withCheckedContinuation { (continuation: CheckedContinuation<Result<AMQPDelivery, AMQPError>, Never>) in
            var state = Self.state()
            state.call(.init(correlationID: "r-1", deadline: start + .seconds(1), continuation: continuation))
            let answer = AMQPDelivery(
                generation: 1, deliveryTag: 1, redelivered: false, exchange: "", routingKey: "q", consumerTag: "c",
                properties: AMQPProperties(correlationID: "r-1"), body: [1], omittedBodySize: nil)
            let call = state.reply(answer)
            #expect(call != nil)
            let second = state.reply(answer)
            #expect(second == nil, "a second reply is dropped")
            call?.continuation.resume(returning: .success(answer))
        }
        #expect((try? reply.get())?.body == [1])
        let expired = await withCheckedContinuation { (continuation: CheckedContinuation<Result<AMQPDelivery, AMQPError>, Never>) in
            var state = Self.state()
            state.call(.init(correlationID: "r-2", deadline: start + .seconds(1), continuation: continuation))
            let early = state.expire(now: start)
            #expect(early.isEmpty)
            let due = state.expire(now: start + .seconds(2))
            #expect(due.map(\.correlationID) == ["r-2"])
            for call in due { call.continuation.resume(returning: .failure(AMQPError(.timeout, "expired"))) }
        }
        #expect(throws: AMQPError.self) { try expired.get() }
    }

    @Test("a consumer the broker cancels is recreated when its queue is ours, and ended otherwise")
    func brokerCancel() async {
        var state = Self.state()
        state.declared(AMQPTopology(queues: [.init(name: "ours", durable: true)]))
        state.add(.init(tag: "a", queue: "ours", prefetch: 1, noAck: false, bodyLimit: nil, consumer: AMQPConsumer(tag: "a")))
        let theirs = AMQPConsumer(tag: "b")
        state.add(.init(tag: "b", queue: "theirs", prefetch: 1, noAck: false, bodyLimit: nil, consumer: theirs))
        let actions = ["a", "b", "zz"].map { state.brokerCancelled($0) }
        #expect(actions == [.reconnect, .forgotten, .unknown])
        await theirs.finished()
        #expect(await theirs.next(max: 10) == nil)
        state.deleted(queue: "ours")
        let afterDelete = state.brokerCancelled("a")
        #expect(afterDelete == .forgotten)
    }

    @Test("a pull consumer hands over what each read turn flushed, drops stale incarnations, then ends")
    func pullConsumer() async {
        let consumer = AMQPConsumer(tag: "c")
        consumer.deliver(Self.delivery(1, generation: 1))
        consumer.deliver(Self.delivery(2, generation: 1))
        consumer.flush()
        consumer.deliver(Self.delivery(1, generation: 2))
        consumer.discard(before: 2)
        consumer.flush()
        #expect(await consumer.next(max: 10)?.map(\.deliveryTag) == [1])
        consumer.finish()
        #expect(await consumer.next(max: 10) == nil)
    }

    @Test("AMQP errors say whether waiting helps")
    func errorClasses() {
        let retriable = [AMQPError.Code.connectionFailed, .connectionLost, .timeout]
        let final = [AMQPError.Code.accessRefused, .invalidConfiguration, .operationRefused, .closed]
        #expect(retriable.allSatisfy { AMQPError($0, "x").isRetriable })
        #expect(!final.contains { AMQPError($0, "x").isRetriable })
        #expect(
            String(reflecting: AMQPError(.operationRefused, "declare failed", replyCode: 406, detail: "PRECONDITION_FAILED"))
                == "AMQP operation-refused (406): declare failed — PRECONDITION_FAILED")
    }

    @Test("reconnect backoff: doubles with equal jitter up to the ceiling, and starts again after a session opens")
    func reconnectBackoff() {
        var backoff = Backoff(initial: .milliseconds(100), maximum: .milliseconds(400))
        #expect(backoff.next(unit: 0) == .milliseconds(50))
        #expect(backoff.next(unit: 1) == .milliseconds(200))
        #expect(backoff.next(unit: 1) == .milliseconds(400))
        #expect(backoff.next(unit: 1) == .milliseconds(400))
        backoff.reset()
        #expect(backoff.next(unit: 1) == .milliseconds(100))
        var state = Self.state()
        let first = state.reconnectDelay()
        #expect(first >= .milliseconds(50) && first <= .milliseconds(100))
        _ = state.reconnectDelay()
        _ = state.opened()
        let afterOpen = state.reconnectDelay()
        #expect(afterOpen <= .milliseconds(100))
    }
}
