import Foundation
import Logging
import Postgres

/// A slot of its own on the local stack for one test or benchmark run: a fresh database and broker names nobody
/// else uses, so runs never see each other's events; and the environment that points a `notifyd` at them.
public struct IsolatedStack: Sendable {
    public let id = UUID().uuidString.prefix(8).lowercased()
    /// The daemon's admin credential (`auth.adminKey`) on this slot.
    public let adminKey = "admin-" + UUID().uuidString + UUID().uuidString
    /// `test`, `bench`: the first part of every name.
    public let prefix: String
    public let database: String
    public let databaseURL: String
    public let amqpURL: String
    /// A pool on the server's maintenance connection: creates and drops the database, and can act on the
    /// daemon's sessions (`pg_cancel_backend`).
    public let admin: PGPool

    public var exchange: String { "\(prefix).\(id).events" }
    public var eventsQueue: String { "\(prefix).\(id).notifications.events" }
    public var deadLetterExchange: String { "\(prefix).\(id).dlx" }
    public var deadLetterQueue: String { "\(prefix).\(id).dlq" }
    public var rpcQueue: String { "\(prefix).\(id).rpc" }
    public var workExchange: String { "\(prefix).\(id).work" }
    /// Lane queues are `<this>high`, `<this>normal`, `<this>low`; retry tiers `<this>retry.<delay>`.
    public var deliveryQueuePrefix: String { "\(prefix).\(id)." }

    /// Every queue a daemon on this slot declares (with the default retry tiers, and the one-second tier tests
    /// configure), to delete when the slot goes: on a cluster, quorum queues left behind cost every node.
    public var queues: [String] {
        [eventsQueue, rpcQueue, deadLetterQueue] + ["high", "normal", "low"].map { deliveryQueuePrefix + $0 }
            + ["1s", "2s", "10s", "30s", "2m", "10m", "1h", "6h"].map { deliveryQueuePrefix + "retry." + $0 }
    }

    /// Creates the database on the server `postgresURL` names (beside that URL's own database).
    public init(prefix: String, amqpURL: String, postgresURL: String, logger: Logger) async throws {
        self.prefix = prefix
        self.amqpURL = amqpURL
        database = "\(prefix)_\(id)"
        guard var components = URLComponents(string: postgresURL) else { throw SupportFailure("bad PostgreSQL URL") }
        components.path = "/\(database)"
        guard let url = components.string else { throw SupportFailure("bad PostgreSQL URL") }
        databaseURL = url
        admin = PGPool(configuration: try PGConfiguration(url: postgresURL), logger: logger)
        let database = database
        try await admin.withConnection { _ = try $0.execute(PGQuery(unsafeSQL: "CREATE DATABASE \(database)")) }
    }

    /// `NOTIFY_*` variables for a daemon on this slot.
    public var daemonEnvironment: [String: String] {
        [
            "NOTIFY_TOPOLOGY_EVENTS_EXCHANGE": exchange, "NOTIFY_TOPOLOGY_EVENTS_QUEUE": eventsQueue,
            "NOTIFY_TOPOLOGY_DEAD_LETTER_EXCHANGE": deadLetterExchange, "NOTIFY_TOPOLOGY_DEAD_LETTER_QUEUE": deadLetterQueue,
            "NOTIFY_TOPOLOGY_RPC_QUEUE": rpcQueue, "NOTIFY_AMQP_URL": amqpURL, "NOTIFY_POSTGRES_URL": databaseURL,
            "NOTIFY_TOPOLOGY_WORK_EXCHANGE": workExchange, "NOTIFY_TOPOLOGY_DELIVERY_QUEUE_PREFIX": deliveryQueuePrefix,
            // Parked copies stay on the dead-letter queue, where the parking tests read them; the archive's own
            // tests turn it on.
            "NOTIFY_TOPOLOGY_ARCHIVE_PARKED": "false",
            "NOTIFY_AUTH_ADMIN_KEY": adminKey,
        ]
    }

    /// A pool on the slot's database.
    public func database(logger: Logger) throws -> PGPool {
        PGPool(configuration: try PGConfiguration(url: databaseURL), logger: logger)
    }

    /// Drops the database (stop the daemons first) and closes the admin pool.
    public func tearDown() async {
        let database = database
        _ = try? await admin.withConnection { try $0.execute(PGQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(database) WITH (FORCE)")) }
        await admin.close()
    }
}
