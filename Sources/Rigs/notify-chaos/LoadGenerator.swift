import AMQP
import Foundation
import Logging
import StackSupport

/// The producers, as FlowMart's payment and inventory services would publish: numbered events with confirms and
/// `persistent`, at a steady rate. Nine in ten are payments (an in-app notification and an email each); every
/// tenth is an inventory adjustment that takes a product of its own to zero (one OutOfStock each). A batch the
/// broker did not confirm — a node died under it — is published again with the same message ids, as a producer
/// must; what the broker confirmed in the end is what the checker judges.
final class LoadGenerator: @unchecked Sendable {
    enum Kind { case payment, adjustment }

    private let publisher: AMQPConnection
    private let exchange: String
    private let tag: String
    private let users: Int
    private let lock = NSLock()
    private var confirmedIndexes: [Int] = []
    /// When each event was first published (seconds since 1970; 0: not yet), by index.
    private var publishedAt: [Double] = []
    private var failures = 0

    init(_ options: ClusterOptions, exchange: String, tag: String, users: Int, logger: Logger) throws {
        var configuration = try AMQPConfiguration(url: options.amqpURL)
        configuration.alternateNodes = try options.nodes
        configuration.connectionName = "notify-chaos-load"
        configuration.heartbeat = .seconds(2)
        publisher = AMQPConnection(configuration: configuration, confirmMode: true, logger: logger)
        self.exchange = exchange
        self.tag = tag
        self.users = users
    }

    static func kind(_ index: Int) -> Kind { index % 10 == 9 ? .adjustment : .payment }
    func messageID(_ index: Int) -> String { "\(tag)-e\(index)" }
    func product(_ index: Int) -> String { "\(tag)-p\(index)" }

    /// Events confirmed so far.
    var confirmed: [Int] { lock.withLock { confirmedIndexes } }
    var confirmedCount: Int { lock.withLock { confirmedIndexes.count } }
    /// When event `index` was first published (seconds since 1970): the start of its latency.
    func publishTime(_ index: Int) -> Double? {
        lock.withLock { index < publishedAt.count && publishedAt[index] > 0 ? publishedAt[index] : nil }
    }
    /// Publishes that failed or came back unconfirmed, and were retried.
    var retries: Int { lock.withLock { failures } }

    /// Publishes events `range` at `rate` per second (0: as fast as confirms come back), in batches of a tenth of a
    /// second's worth; returns when every one is confirmed.
    func run(_ range: Range<Int>, rate: Double) async throws {
        if !publisher.isConnected { try await publisher.connect() }
        lock.withLock {
            if publishedAt.count < range.upperBound { publishedAt += Array(repeating: 0, count: range.upperBound - publishedAt.count) }
        }
        let batchSize = rate > 0 ? max(1, Int(rate / 10)) : 200
        let started = ContinuousClock.now
        for start in stride(from: range.lowerBound, to: range.upperBound, by: batchSize) {
            if rate > 0 {
                let due = started + .seconds(Double(start - range.lowerBound) / rate)
                if due > .now { try await Task.sleep(until: due) }
            }
            try await publishConfirmed(Array(start..<min(start + batchSize, range.upperBound)))
        }
    }

    func close() async { await publisher.close() }

    private func publishConfirmed(_ indexes: [Int]) async throws {
        let now = Date().timeIntervalSince1970
        lock.withLock { for index in indexes where publishedAt[index] == 0 { publishedAt[index] = now } }
        let batch = indexes.map(message)
        let deadline = ContinuousClock.now + .seconds(180)
        while ContinuousClock.now < deadline {
            let outcomes = (try? await publisher.publish(batch, timeout: .seconds(10))) ?? []
            if outcomes.count == batch.count, outcomes.allSatisfy({ $0 == .confirmed }) {
                lock.withLock { confirmedIndexes.append(contentsOf: indexes) }
                return
            }
            lock.withLock { failures += 1 }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw SupportFailure("events \(indexes.first ?? 0)... not confirmed within 180 s")
    }

    private func message(_ index: Int) -> AMQPOutgoingMessage {
        let body: String
        let (routingKey, type): (String, String)
        switch Self.kind(index) {
        case .payment:
            body = """
                {"transactionId":"tx-\(tag)-\(index)","userId":"\(tag)-\(index % users)","orderId":"order-\(index)",\
                "amount":\(index % 1000).25,"currency":"USD","status":"confirmed","timestamp":"2026-12-05T10:00:00Z"}
                """
            (routingKey, type) = ("payment.processed", "PaymentProcessed")
        case .adjustment:
            body = """
                {"event_id":"\(messageID(index))","timestamp":"2026-12-05T10:00:00Z","product_id":"\(product(index))",\
                "adjusted_quantity":-5,"new_quantity":0}
                """
            (routingKey, type) = ("inventory.adjusted", "InventoryAdjusted")
        }
        return AMQPOutgoingMessage(
            exchange: exchange, routingKey: routingKey, body: Array(body.utf8),
            properties: AMQPProperties(
                contentType: "application/json", headers: ["version": "1.0.0"], persistent: true,
                messageID: messageID(index), type: type))
    }
}
