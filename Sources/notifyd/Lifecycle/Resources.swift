import AMQP
import Logging
import NotifyStore
import Postgres
import Providers
import ServiceLifecycle

/// The pools and connections the services share.
struct Resources: Sendable {
    let logger: Logger
    let writes: PGPool
    let reads: PGPool
    /// The send API's group commits (`SendCommitter`): one connection, so a burst of sends never takes the query
    /// pool's connections and the commits run one after another.
    let sends: PGPool
    /// Connections for the outbox relay (`outbox.workers`, one per relay worker) and reconciliation, so publishing
    /// never waits on ingestion's connections.
    let outbox: PGPool
    let consuming: AMQPConnection
    let publishing: AMQPConnection
    let rpc: AMQPConnection
    /// The delivery worker's: it consumes the lanes and publishes retry and dead-letter copies with confirms.
    let delivering: AMQPConnection
    /// The metrics sampler's: its passive declares share no channel with a consumer, so a queue deleted under it
    /// (a 404 closes the channel) costs this connection a reconnect and nobody else anything.
    let monitoring: AMQPConnection
    /// Connections for the delivery worker's claims and records.
    let deliveries: PGPool
    /// The HTTP client the HTTP providers share.
    let http: HTTPTransport

    init(_ configuration: DaemonConfiguration, logger: Logger) {
        self.logger = logger
        var reads = configuration.database.connection
        reads.poolSize = configuration.database.queryPoolSize
        var outbox = configuration.database.connection
        outbox.poolSize = configuration.outbox.workers
        writes = PGPool(configuration: configuration.database.connection, logger: logger)
        self.reads = PGPool(configuration: reads, logger: logger)
        var sends = configuration.database.connection
        sends.poolSize = 1
        self.sends = PGPool(configuration: sends, logger: logger)
        self.outbox = PGPool(configuration: outbox, logger: logger)
        var deliveries = configuration.database.connection
        deliveries.poolSize = configuration.delivery.workers + configuration.delivery.highLaneWorkers
        self.deliveries = PGPool(configuration: deliveries, logger: logger)
        func connection(_ role: String, confirms: Bool) -> AMQPConnection {
            var amqp = configuration.amqp
            amqp.connectionName = "notifyd.\(role)"
            return AMQPConnection(configuration: amqp, confirmMode: confirms, logger: logger)
        }
        consuming = connection("consume", confirms: false)
        publishing = connection("publish", confirms: true)
        rpc = connection("rpc", confirms: false)
        delivering = connection("deliver", confirms: true)
        monitoring = connection("monitor", confirms: false)
        http = HTTPTransport(caCertificatePath: configuration.providerCACertificate)
    }

    /// Connects in dependency order, migrates, and declares the topology; the error names the step. What was
    /// opened is closed by the group, which stops every resource when a step fails.
    func open(_ configuration: DaemonConfiguration) async throws {
        do {
            try await writes.connect()
            try await reads.connect()
            try await sends.connect()
            try await outbox.connect()
            try await deliveries.connect()
        } catch {
            throw StartupError(step: "PostgreSQL", reason: error.description)
        }
        do {
            try await PGMigrator(migrations: Migrations.all).migrate(on: writes, logger: logger)
        } catch {
            throw StartupError(step: "database migrations", reason: "\(error)")
        }
        do {
            try await consuming.connect()
            try await publishing.connect()
            try await rpc.connect()
            try await delivering.connect()
            try await monitoring.connect()
            try await consuming.declare(configuration.declaredTopology)
        } catch {
            throw StartupError(
                step: "RabbitMQ at \(configuration.amqp.endpoints.map(\.description).joined(separator: ", "))", reason: error.description)
        }
    }

    /// The broker connections by role, for the readiness check.
    var named: [(name: String, connection: AMQPConnection)] {
        [("consume", consuming), ("publish", publishing), ("rpc", rpc), ("deliver", delivering)]
    }

    /// Liveness checks for the watchdog: every connection thread, and every database thread and connection. The
    /// publishing connection is excused while the broker blocks it (a resource alarm), when a write may wait.
    var probes: [Watchdog.Probe] {
        [
            Watchdog.Probe("amqp.consume") { [consuming] in await consuming.ping() },
            Watchdog.Probe("amqp.publish", excused: { [publishing] in publishing.isBlocked }) { [publishing] in
                await publishing.ping()
            },
            Watchdog.Probe("amqp.rpc") { [rpc] in await rpc.ping() },
            Watchdog.Probe("amqp.deliver", excused: { [delivering] in delivering.isBlocked }) { [delivering] in
                await delivering.ping()
            },
            Watchdog.Probe("postgres.writes") { [writes] in await writes.ping() },
            Watchdog.Probe("postgres.queries") { [reads] in await reads.ping() },
            Watchdog.Probe("postgres.sends") { [sends] in await sends.ping() },
            Watchdog.Probe("postgres.outbox") { [outbox] in await outbox.ping() },
            Watchdog.Probe("postgres.deliveries") { [deliveries] in await deliveries.ping() },
        ]
    }

    /// The pools and connections as services, in dependency order: the group stops them in reverse, after the
    /// services that use them, and each closes itself when it stops.
    var all: [any Service] {
        [
            HTTPTransportService(transport: http), writes, reads, sends, outbox, deliveries, consuming, publishing, rpc, delivering,
            monitoring,
        ]
    }
}

/// The shared HTTP client as a resource of the group: shut down when the group stops, after the services that use
/// it (it is listed first), and also when the daemon never got past its start.
private struct HTTPTransportService: Service {
    let transport: HTTPTransport

    func run() async throws {
        try? await gracefulShutdown()
        await transport.shutdown()
    }
}
