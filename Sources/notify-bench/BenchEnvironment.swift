import AMQP
import Foundation
import Logging
import Postgres
import TestSupport

/// A database and queue names of their own for one benchmark run, so runs never see each other's data; and the
/// environment that points a `notifyd` at them.
struct BenchEnvironment {
    let id = UUID().uuidString.prefix(8).lowercased()
    let database: String
    let databaseURL: String
    let admin: PGPool
    let stack: StackOptions

    var exchange: String { "bench.\(id).events" }
    var eventsQueue: String { "bench.\(id).queue" }
    var rpcQueue: String { "bench.\(id).rpc" }

    init(stack: StackOptions, logger: Logger) async throws {
        self.stack = stack
        database = "bench_\(id)"
        admin = PGPool(configuration: try PGConfiguration(url: stack.postgresURL), logger: logger)
        let database = database
        try await admin.withConnection { _ = try $0.execute(PGQuery(unsafeSQL: "CREATE DATABASE \(database)")) }
        guard var components = URLComponents(string: stack.postgresURL) else { throw SupportFailure("bad PostgreSQL URL") }
        components.path = "/\(database)"
        databaseURL = components.string!
    }

    /// `NOTIFY_*` variables for a daemon on this environment.
    var daemonEnvironment: [String: String] {
        [
            "NOTIFY_TOPOLOGY_EVENTS_EXCHANGE": exchange, "NOTIFY_TOPOLOGY_EVENTS_QUEUE": eventsQueue,
            "NOTIFY_TOPOLOGY_DEAD_LETTER_EXCHANGE": "bench.\(id).dlx", "NOTIFY_TOPOLOGY_DEAD_LETTER_QUEUE": "bench.\(id).dlq",
            "NOTIFY_TOPOLOGY_RPC_QUEUE": rpcQueue,
            "NOTIFY_AMQP_URL": stack.amqpURL, "NOTIFY_POSTGRES_URL": databaseURL, "NOTIFY_LOG_LEVEL": "info",
        ]
    }

    func database(logger: Logger) throws -> PGPool {
        PGPool(configuration: try PGConfiguration(url: databaseURL), logger: logger)
    }

    /// Drops the database (daemons must be stopped first).
    func tearDown() async {
        let database = database
        _ = try? await admin.withConnection { try $0.execute(PGQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")) }
        await admin.close()
    }
}

/// Load for the daemon: events published as their producers would, and the wait until they are stored.
enum EventLoad {
    /// Publishes `bodies` with confirms, `lanes` confirm windows of 500 in flight, so that the publisher is not
    /// what is measured. Message ids are `idPrefix` + the body's index + `firstIndex`.
    static func publish(
        _ bodies: [[UInt8]], firstIndex: Int, idPrefix: String, routingKey: String, type: String, exchange: String,
        lanes: Int, publisher: AMQPConnection
    ) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for lane in 0..<lanes {
                group.addTask {
                    for start in stride(from: lane * 500, to: bodies.count, by: 500 * lanes) {
                        let batch = (start..<min(start + 500, bodies.count)).map { offset in
                            AMQPOutgoingMessage(
                                exchange: exchange, routingKey: routingKey, body: bodies[offset],
                                properties: AMQPProperties(contentType: "application/json", persistent: true,
                                                           messageID: "\(idPrefix)\(firstIndex + offset)", type: type))
                        }
                        let outcomes = try await publisher.publish(batch, timeout: .seconds(60))
                        guard outcomes.allSatisfy({ $0 == .confirmed }) else { throw SupportFailure("publish not confirmed") }
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Waits until `count` events are in the inbox table and the queue holds nothing more.
    static func waitUntilStored(_ count: Int, publisher: AMQPConnection, queue: String, db: PGPool) async throws {
        while try await db.withConnection({ try $0.query("SELECT count(*) FROM inbox")[0].decode(0, as: Int.self) }) < count {
            try await Task.sleep(for: .milliseconds(20))
        }
        while try await publisher.queueStatus(queue).messageCount > 0 { try await Task.sleep(for: .milliseconds(10)) }
    }
}
