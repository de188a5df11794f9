import Foundation
import StackSupport
import Synchronization
import Testing

@testable import AMQP

@Suite("AMQP recovery when the broker closes every connection", .needsStack)
struct ReconnectTests {
    @Test("close_all_connections mid-stream: both connections come back, publishing and consuming resume, nothing is lost")
    func forcedCloseLosesNothing() async throws {
        let publisher = try await TestStack.connect("test-reconnect-publisher", confirmMode: true)
        let consumer = try await TestStack.connect("test-reconnect-consumer")
        let queue = try await TestStack.freshQueue("reconnect", on: publisher)
        // The consumer declares the queue too, so it is part of what the consumer restores after reconnecting.
        try await consumer.declare(AMQPTopology(queues: [.init(name: queue, durable: true)]))
        let total = 6_000
        let seen = SeenIndices()
        let deliveries = try await consumer.consume(queue: queue, prefetch: 200)

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                // Paced so that the forced close lands while batches are in flight; the second half waits for the
                // publisher's reconnection, so it lands mid-stream however slowly rabbitmqctl starts on a busy machine.
                for start in stride(from: 0, to: total, by: 100) {
                    if start == total / 2 { #expect(await eventually(timeout: .seconds(120)) { publisher.generation > 1 }) }
                    let batch = (start..<start + 100).map { TestStack.message(to: queue, $0) }
                    let outcomes = try await publisher.publish(batch, timeout: .seconds(60))
                    #expect(outcomes.allSatisfy { $0 == .confirmed }, "batch at \(start) not confirmed")
                    try await Task.sleep(for: .milliseconds(25))
                }
            }
            group.addTask {
                // A slow consumer, so that it holds unacked deliveries when the connection drops: those acks
                // are dropped as stale and the broker redelivers the messages.
                for await delivery in deliveries {
                    let index = Int(delivery.properties.messageID!.dropFirst(2))!
                    try await Task.sleep(for: .microseconds(500))
                    consumer.ack(delivery)
                    if seen.insert(index) == total { break }
                }
            }
            group.addTask {
                _ = await eventually { seen.count > total / 10 }
                let status = try StackControl.rabbitmqctl("close_all_connections", "test: forced close")
                #expect(status == 0)
            }
            try await group.waitForAll()
        }
        #expect(seen.all == Set(0..<total))
        #expect(publisher.generation > 1)
        #expect(consumer.generation > 1)
        #expect(await eventually { (try? await publisher.queueStatus(queue).messageCount) == 0 })
        try await consumer.cancel(deliveries)
        try await publisher.deleteQueue(queue)
        await consumer.close()
        await publisher.close()
    }
}

/// Message indices a consumer has seen, shared between test tasks.
final class SeenIndices: Sendable {
    private let indices = Mutex(Set<Int>())
    /// Records `index`; returns how many distinct indices have been seen.
    func insert(_ index: Int) -> Int {
        indices.withLock {
            $0.insert(index)
            return $0.count
        }
    }
    var count: Int { indices.withLock { $0.count } }
    var all: Set<Int> { indices.withLock { $0 } }
}
