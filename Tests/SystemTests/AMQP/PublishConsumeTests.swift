import AMQP
import Foundation
import StackSupport
import Testing

@Suite("AMQP publish and consume against the local broker", .needsStack)
struct PublishConsumeTests {
    @Test("10,000 persistent messages published with confirms are all consumed and acked, none lost")
    func tenThousandRoundTrip() async throws {
        let publisher = try await TestStack.connect("test-publisher", confirmMode: true)
        let consumer = try await TestStack.connect("test-consumer")
        let queue = try await TestStack.freshQueue("roundtrip", on: publisher)

        let total = 10_000
        for start in stride(from: 0, to: total, by: 500) {
            let outcomes = try await publisher.publish((start..<start + 500).map { TestStack.message(to: queue, $0) })
            #expect(outcomes.allSatisfy { $0 == .confirmed })
        }
        #expect(try await publisher.queueStatus(queue).messageCount == UInt32(total))

        var seen = Set<Int>()
        let deliveries = try await consumer.consume(queue: queue, prefetch: 500)
        for await delivery in deliveries {
            let id = try #require(delivery.properties.messageID)
            seen.insert(Int(id.dropFirst(2))!)
            #expect(delivery.body.count == 200)
            if seen.count % 100 == 0 { consumer.ack(delivery, multiple: true) }
            if seen.count == total { break }
        }
        #expect(seen == Set(0..<total))
        #expect(try await eventually { try await publisher.queueStatus(queue).messageCount == 0 })
        try await consumer.cancel(deliveries)
        try await publisher.deleteQueue(queue)
        await consumer.close()
        await publisher.close()
    }

    @Test("a message nacked with requeue comes back, marked redelivered")
    func nackRequeue() async throws {
        let connection = try await TestStack.connect("test-nack", confirmMode: true)
        let queue = try await TestStack.freshQueue("nack", on: connection)
        #expect(try await connection.publish([TestStack.message(to: queue, 7)]) == [.confirmed])

        let deliveries = try await connection.consume(queue: queue, prefetch: 10)
        var iterator = deliveries.makeAsyncIterator()
        let first = try #require(await iterator.next())
        #expect(!first.redelivered)
        connection.nack(first, requeue: true)
        let second = try #require(await iterator.next())
        #expect(second.redelivered)
        #expect(second.properties.messageID == "m-7")
        #expect(second.body == first.body)
        connection.ack(second)
        #expect(try await eventually { try await connection.queueStatus(queue).messageCount == 0 })
        try await connection.cancel(deliveries)
        try await connection.deleteQueue(queue)
        await connection.close()
    }
}
