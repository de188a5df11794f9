import AMQP
import ArgumentParser
import Foundation
import Logging
import NotifyStore
import Postgres
import StackSupport
import Synchronization

/// The daemon end to end: a release `notifyd` (next to this binary) on its own database and queues.
///
/// 1. Ingestion: `events` PaymentProcessed published with confirms, timed until every one is committed and the
///    queue is drained (acked).
/// 2. Query latency: `GetUserNotifications` from one client over `stored` notifications of `users` users.
/// 3. Query throughput: `clients` concurrent clients for `seconds`.
/// 4. Peak RSS of `notifyd` over all of it.
struct ServiceBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "service", abstract: "Ingestion throughput, query latency and throughput, and memory of notifyd.")

    @OptionGroup var stack: StackOptions
    @Option(help: "Events to ingest.") var events = 100_000
    @Option(help: "Publishing lanes, each with 500 unconfirmed messages in flight.") var lanes = 4
    @Option(help: "Notifications stored before the query benchmarks.") var stored = 1_000_000
    @Option(help: "Users they belong to.") var users = 10_000
    @Option(help: "Timed single-client queries.") var queries = 3_000
    @Option(help: "Concurrent query clients.") var clients = 8
    @Option(help: "Seconds of the throughput run.") var seconds = 5.0
    @Flag(
        help:
            "Also time the queries without a key (the daemon's keyless inbox mode), alternating with the keyed runs: the cost of authentication."
    )
    var compareKeyless = false
    @OptionGroup var daemon: DaemonOverrides

    func run() async throws {
        // In-app only, as before email existed: this is the figure earlier releases are compared on.
        let keyless = compareKeyless ? ["NOTIFY_AUTH_INBOX_REQUIRES_KEY": "false"] : [:]
        let rig = try await BenchRig(
            stack,
            environment: try BenchRig.rulesEnvironment(BenchRig.inAppOnlyRules).merging(try daemon.environment) { $1 }
                .merging(keyless) { $1 })
        let scraper = daemon.scrapeHTTP ? HTTPScraper(port: try daemon.httpPort) : nil
        defer { scraper?.stop() }
        let (publisher, db) = (rig.publisher, rig.db)
        let (exchange, queue) = (rig.slot.exchange, rig.slot.eventsQueue)

        // 1. Ingestion while publishing, then draining a backlog (the daemon's own capacity).
        let ingest = try await ingestion(publisher: publisher, exchange: exchange, queue: queue, db: db)
        print(String(format: "ingestion: %d PaymentProcessed events, published with confirms and stored, %.0f events/s", events, ingest))
        let drain = try await rig.backlogDrainRate(events, storedAfter: 2 * events) {
            try await publish(from: events, count: events, publisher: publisher, exchange: exchange)
        }
        print(String(format: "ingestion: a backlog of %d events drained (stored and acked) at %.0f events/s", events, drain))

        // 2 + 3. Queries over a large inbox table.
        try await seed(db)
        let rpcQueue = rig.slot.rpcQueue
        // The inbox is queried as FlowMart's services do: with a service key, looked up for every request.
        let key = try await rig.serviceKey(scopes: ["inbox-read"])
        var (p50, p99, throughput) = (0.0, 0.0, 0.0)
        for round in 0..<(compareKeyless ? 2 : 1) {
            for presented in compareKeyless ? [nil, key] : [key] {  // keyed last: the RESULT lines report it
                let label = presented == nil ? "without a key" : "with a service key"
                (p50, p99) = try await latency(amqp: rig.amqp, logger: rig.logger, queue: rpcQueue, key: presented)
                print(
                    String(
                        format:
                            "query latency (%@, round %d): GetUserNotifications over %d notifications of %d users, 1 client: p50 %.3f ms, p99 %.3f ms",
                        label, round + 1, stored, users, p50, p99))
                throughput = try await concurrentThroughput(amqp: rig.amqp, logger: rig.logger, queue: rpcQueue, key: presented)
                print(String(format: "query throughput (%@, round %d): %d clients, %.0f replies/s", label, round + 1, clients, throughput))
            }
        }
        let rss = rig.peakRSSMegabytes
        print(String(format: "notifyd peak RSS: %.1f MB", rss))

        await rig.tearDown()
        print(String(format: "RESULT ingest_throughput %.0f events/s", ingest))
        print(String(format: "RESULT ingest_backlog_drain %.0f events/s", drain))
        print(String(format: "RESULT query_latency_p50 %.3f ms", p50))
        print(String(format: "RESULT query_latency_p99 %.3f ms", p99))
        print(String(format: "RESULT query_throughput %.0f replies/s", throughput))
        print(String(format: "RESULT notifyd_peak_rss %.1f MB", rss))
    }

    private func ingestion(publisher: AMQPConnection, exchange: String, queue: String, db: PGPool) async throws -> Double {
        let started = ContinuousClock.now
        try await publish(from: 0, count: events, publisher: publisher, exchange: exchange)
        let published = ContinuousClock.now - started
        try await EventLoad.waitUntilStored(events, publisher: publisher, queue: queue, db: db)
        let elapsed = ContinuousClock.now - started
        print(
            String(
                format: "ingestion: all %d confirmed by the broker after %.2f s, all stored and acked after %.2f s",
                events, published.seconds, elapsed.seconds))
        return Double(events) / elapsed.seconds
    }

    /// Publishes PaymentProcessed events `from..<from+count` with confirms.
    private func publish(from first: Int, count: Int, publisher: AMQPConnection, exchange: String) async throws {
        let users = users
        let bodies = (first..<first + count).map { index in
            Array(
                """
                {"transactionId":"tx-\(index)","userId":"user-\(index % users)","orderId":"order-\(index)",\
                "amount":\(index % 500).99,"currency":"USD","status":"confirmed","timestamp":"2026-11-21T10:00:00Z"}
                """.utf8)
        }
        try await EventLoad.publish(
            bodies, firstIndex: first, idPrefix: "bench-", routingKey: "payment.processed", type: "PaymentProcessed",
            exchange: exchange, lanes: lanes, publisher: publisher)
    }

    /// Fills the table straight through COPY (the daemon's own ingestion was measured above).
    private func seed(_ db: PGPool) async throws {
        let existing = try await db.withConnection { try Census.notifications(on: $0) }
        let missing = max(0, stored - existing)
        let chunk = 50_000
        for start in stride(from: 0, to: missing, by: chunk) {
            let (users, total) = (users, stored)
            try await db.withConnection { connection in
                let rows: [[(any PGEncodable)?]] = (start..<min(start + chunk, missing)).map { index in
                    [
                        UUID(), "user-\(index % users)", "payment", "normal", PGTextArray(["in-app"]), "Payment received",
                        "We received your payment of $\(index % 500).99 for order seed-\(index). Thank you!",
                        "{\"orderId\":\"seed-\(index)\"}", "seed-\(index)",
                        Date(timeIntervalSince1970: 1_790_000_000 + Double(index) / Double(total) * 86_400 * 30),
                    ]
                }
                try connection.copy(
                    into: "notifications",
                    columns: [
                        "id", "user_id", "type", "priority", "channels", "title", "message", "metadata", "source_event_key", "created_at",
                    ], rows: rows)
            }
        }
        try await db.withConnection {
            _ = try $0.execute("UPDATE notifications SET read_at = created_at WHERE source_event_key LIKE 'seed-%7'")
        }
        try await db.withConnection { _ = try $0.execute("VACUUM ANALYZE notifications") }
    }

    private func latency(amqp: AMQPConfiguration, logger: Logger, queue: String, key: String?) async throws -> (Double, Double) {
        let connection = AMQPConnection(configuration: amqp, confirmMode: false, logger: logger)
        try await connection.connect()
        let client = try await AMQPRPCClient(connection: connection)
        var samples: [Double] = []
        for index in 0..<(queries + 300) {
            let body = Array(#"{"userId":"user-\#(Int.random(in: 0..<users))","limit":20}"#.utf8)
            let started = ContinuousClock.now
            let reply = try await client.call(
                queue: queue, type: "GetUserNotifications", body: body, headers: key.map { ["x-api-key": .string($0)] } ?? [:])
            let elapsed = ContinuousClock.now - started
            guard reply.properties.headers["status"] == .int(200) else { throw SupportFailure("query failed") }
            if index >= 300 { samples.append(elapsed.seconds * 1000) }
        }
        await connection.close()
        samples.sort()
        return (percentile(samples, 0.5), percentile(samples, 0.99))
    }

    private func concurrentThroughput(amqp: AMQPConfiguration, logger: Logger, queue: String, key: String?) async throws -> Double {
        let answered = Mutex(0)
        let (users, seconds) = (users, seconds)
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<clients {
                group.addTask {
                    let connection = AMQPConnection(configuration: amqp, confirmMode: false, logger: logger)
                    try await connection.connect()
                    let client = try await AMQPRPCClient(connection: connection)
                    var count = 0
                    let deadline = started + .seconds(seconds)
                    while ContinuousClock.now < deadline {
                        let body = Array(#"{"userId":"user-\#(Int.random(in: 0..<users))","limit":20}"#.utf8)
                        let reply = try await client.call(
                            queue: queue, type: "GetUserNotifications", body: body, headers: key.map { ["x-api-key": .string($0)] } ?? [:])
                        guard reply.properties.headers["status"] == .int(200) else { throw SupportFailure("query failed") }
                        count += 1
                    }
                    await connection.close()
                    return count
                }
            }
            for try await count in group { answered.withLock { $0 += count } }
        }
        return Double(answered.withLock { $0 }) / (ContinuousClock.now - started).seconds
    }

}
