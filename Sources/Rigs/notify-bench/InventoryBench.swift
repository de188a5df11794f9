import AMQP
import ArgumentParser
import Foundation
import Logging
import NotifyStore
import Postgres
import StackSupport

/// Stock tracking and the outbox relay, through a release `notifyd` on its own database and queues.
///
/// 1. Inventory ingestion: `events` InventoryAdjusted over `products` products (about one in ten goes to zero, so
///    stock-outs and outbox rows are part of the work), published with confirms, until all are stored and acked.
/// 2. Outbox relay: `outbox` OutOfStock rows committed at once, until every one is published with a confirm and
///    marked sent.
struct InventoryBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inventory", abstract: "Inventory ingestion with stock tracking, and outbox relay throughput.")

    @OptionGroup var stack: StackOptions
    @Option(help: "InventoryAdjusted events to ingest.") var events = 100_000
    @Option(help: "Products they adjust.") var products = 10_000
    @Option(help: "OutOfStock rows for the relay benchmark.") var outbox = 100_000

    func run() async throws {
        let rig = try await BenchRig(stack)
        let (publisher, db) = (rig.publisher, rig.db)
        let (exchange, queue, sink) = (rig.slot.exchange, rig.slot.eventsQueue, "bench.\(rig.slot.id).out-of-stock")
        // Somewhere for the OutOfStock events to go, as a subscribing service would bind.
        try await publisher.declare(
            AMQPTopology(
                exchanges: [.init(name: exchange, type: "topic")], queues: [.init(name: sink, durable: true)],
                bindings: [.init(queue: sink, exchange: exchange, routingKey: "inventory.out-of-stock")]))

        let started = ContinuousClock.now
        try await publish(range: 0..<events, publisher: publisher, exchange: exchange)
        try await EventLoad.waitUntilStored(events, publisher: publisher, queue: queue, db: db)
        let ingest = Double(events) / (ContinuousClock.now - started).seconds
        print(String(format: "inventory ingestion: %d InventoryAdjusted over %d products, %.0f events/s", events, products, ingest))
        let drain = try await rig.backlogDrainRate(events, storedAfter: 2 * events) {
            try await publish(range: events..<2 * events, publisher: publisher, exchange: exchange)
        }
        print(String(format: "inventory ingestion: a backlog of %d events drained at %.0f events/s", events, drain))
        let relay = try await relayThroughput(exchange: exchange, db: db)
        print(String(format: "outbox relay: %d OutOfStock published with confirms and marked sent, %.0f events/s", outbox, relay))

        try await publisher.deleteQueue(sink)
        await rig.tearDown()
        print(String(format: "RESULT inventory_ingest_throughput %.0f events/s", ingest))
        print(String(format: "RESULT inventory_backlog_drain %.0f events/s", drain))
        print(String(format: "RESULT outbox_relay_throughput %.0f events/s", relay))
    }

    /// Publishes adjustments `range` with confirms. Each product steps through
    /// levels over the run; every tenth step lands on zero, a stock-out after a restock.
    private func publish(range: Range<Int>, publisher: AMQPConnection, exchange: String) async throws {
        let products = products
        let bodies = range.map { index in
            let step = index / products
            let new = step % 10 == 9 ? 0 : 50 - step % 10
            return Array(
                #"{"event_id":"adj-\#(index)","timestamp":"2026-11-21T\#(String(format: "%02d", 10 + step / 60 % 10)):\#(String(format: "%02d", step % 60)):00Z","product_id":"product-\#(index % products)","adjusted_quantity":-1,"new_quantity":\#(new),"warehouse_id":"wh-1"}"#
                    .utf8)
        }
        try await EventLoad.publish(
            bodies, firstIndex: range.lowerBound, idPrefix: "adj-", routingKey: "inventory.adjusted",
            type: "InventoryAdjusted", exchange: exchange, lanes: 4, publisher: publisher)
    }

    /// Commits `outbox` rows in one transaction, then waits until the relay has sent them all.
    private func relayThroughput(exchange: String, db: PGPool) async throws -> Double {
        while try await unsent(db) > 0 { try await Task.sleep(for: .milliseconds(50)) }  // ingestion's own rows
        let count = outbox
        let started = try await db.transaction { connection in
            try connection.copy(
                into: "outbox", columns: ["message_id", "exchange", "routing_key", "type", "version", "correlation_id", "body"],
                rows: (0..<count).map { index in
                    [
                        "oos-\(index)", exchange, "inventory.out-of-stock", "OutOfStock", "0.0.4", "bench",
                        #"{"event_id":"oos-\#(index)","timestamp":"2026-11-21T10:00:00.000Z","product_id":"p-\#(index)","last_available_quantity":1}"#,
                    ]
                })
            return ContinuousClock.now
        }
        while try await unsent(db) > 0 { try await Task.sleep(for: .milliseconds(20)) }
        return Double(count) / (ContinuousClock.now - started).seconds
    }

    private func unsent(_ db: PGPool) async throws -> Int {
        try await db.withConnection { try Census.unrelayed(on: $0) }
    }
}
