import Foundation
import Logging
import Postgres

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
        guard var components = URLComponents(string: stack.postgresURL) else { throw BenchError("bad PostgreSQL URL") }
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
