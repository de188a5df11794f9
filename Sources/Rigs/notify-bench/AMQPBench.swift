import AMQP
import ArgumentParser
import Foundation
import Logging
import StackSupport

/// Throughput of the AMQP layer alone against the real broker, compared with plain C through the same library.
struct AMQPBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "amqp", abstract: "Publish-with-confirms and consume-with-acks throughput of the AMQP layer.")

    @OptionGroup var stack: StackOptions
    @Option(help: "Messages per run.") var messages = 100_000
    @Option(help: "Body size in bytes.") var size = 200
    @Option(help: "Messages per confirmed batch (the confirm window).") var confirmEvery = 500
    @Option(help: "Consumer prefetch.") var prefetch: UInt16 = 500
    @Option(help: "Ack (multiple) every N deliveries.") var ackEvery = 100
    @Option(help: "Runs; the median is reported.") var runs = 3

    func run() async throws {
        var logger = Logger(label: "notify-bench")
        logger.logLevel = .warning
        var configuration = try AMQPConfiguration(url: stack.amqpURL)
        configuration.connectionName = "notify-bench"
        let publisher = AMQPConnection(configuration: configuration, confirmMode: true, logger: logger)
        let consumer = AMQPConnection(configuration: configuration, confirmMode: false, logger: logger)
        try await publisher.connect()
        try await consumer.connect()
        let queue = "bench.amqp.throughput"
        try await publisher.declare(AMQPTopology(queues: [.init(name: queue, durable: true)]))

        var publishRates: [Double] = [], consumeRates: [Double] = []
        print("run  publish-confirmed msg/s  consume-acked msg/s   (\(messages) persistent \(size)-byte messages, classic durable queue)")
        for run in 1...runs {
            try await publisher.purge(queue)
            let published = try await publish(on: publisher, to: queue)
            let consumed = try await consume(on: consumer, from: queue)
            publishRates.append(published)
            consumeRates.append(consumed)
            print(String(format: "%3d  %23.0f  %19.0f", run, published, consumed))
        }
        try await publisher.deleteQueue(queue)
        await consumer.close()
        await publisher.close()
        print(
            "reference (plain C, same library, spike.md §3): publish ~19,900 msg/s (confirm every 500), consume ~45,900 msg/s (prefetch 500)"
        )
        print(String(format: "RESULT amqp_publish_confirmed %.0f msg/s", median(publishRates)))
        print(String(format: "RESULT amqp_consume_acked %.0f msg/s", median(consumeRates)))
    }

    /// Publishes `messages` in confirmed batches of `confirmEvery`, waiting for each batch's confirms before the
    /// next, as the C reference did. Returns messages per second.
    private func publish(on connection: AMQPConnection, to queue: String) async throws -> Double {
        let body = [UInt8](repeating: UInt8(ascii: "x"), count: size)
        let started = ContinuousClock.now
        var sent = 0
        while sent < messages {
            let count = min(confirmEvery, messages - sent)
            let batch = (sent..<sent + count).map { index in
                AMQPOutgoingMessage(
                    routingKey: queue, body: body,
                    properties: AMQPProperties(contentType: "application/json", persistent: true, messageID: "b-\(index)"))
            }
            let outcomes = try await connection.publish(batch, timeout: .seconds(30))
            guard outcomes.allSatisfy({ $0 == .confirmed }) else { throw SupportFailure("a publish was not confirmed") }
            sent += count
        }
        return Double(messages) / (ContinuousClock.now - started).seconds
    }

    /// Consumes `messages` with manual acks (`multiple` every `ackEvery`) and waits until the queue is empty.
    private func consume(on connection: AMQPConnection, from queue: String) async throws -> Double {
        let started = ContinuousClock.now
        let deliveries = try await connection.consume(queue: queue, prefetch: prefetch)
        var received = 0
        for await delivery in deliveries {
            received += 1
            if received % ackEvery == 0 || received == messages { connection.ack(delivery, multiple: true) }
            if received == messages { break }
        }
        let elapsed = ContinuousClock.now - started
        try await connection.cancel(deliveries)
        guard received == messages else { throw SupportFailure("consumed \(received) of \(messages)") }
        while try await connection.queueStatus(queue).messageCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
        return Double(messages) / elapsed.seconds
    }

}
