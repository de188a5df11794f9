import AMQP
import Foundation
import Logging
import NotifyCore
import Postgres
import ServiceLifecycle

/// Brings the daemon up in dependency order and keeps it up until SIGTERM or SIGINT.
///
/// Start: templates → PostgreSQL pools → migrations → AMQP connections (consume, publish, rpc) → topology →
/// outbox relay, ingestion and RPC services → `ready`. A failure in any step is thrown as a `StartupError` naming the step and
/// the server, and nothing keeps running. Stop: the service group stops services in reverse order — RPC and
/// ingestion drain first, then connections and pools close — within `shutdownTimeout`.
struct Daemon {
    let configuration: DaemonConfiguration
    let logger: Logger

    func run() async throws {
        let notifier = try loadNotifier()
        var resources = Resources(logger: logger)
        do {
            try await resources.open(configuration)
        } catch {
            await resources.close()
            throw error
        }
        let store = NotificationStore(
            writes: resources.writes!, outOfStock: .init(exchange: configuration.names.eventsExchange),
            policy: configuration.inventory, notifier: notifier)
        var input = JSONInput()
        input.maxBytes = configuration.maxBodyBytes
        let ingestion = EventIngestion(
            consuming: resources.consuming!,
            parker: DeadLetterParker(publishing: resources.publishing!, exchange: configuration.names.deadLetterExchange),
            store: store, notifier: notifier, input: input, queue: configuration.names.eventsQueue,
            prefetch: configuration.ingestionPrefetch, logger: logger)
        let rpc = RPCServer(
            connection: resources.rpc!, queries: resources.reads!, queue: configuration.names.rpcQueue,
            prefetch: configuration.rpcPrefetch, logger: logger)

        let relay = OutboxRelay(
            database: resources.outbox!, publishing: resources.publishing!, batchSize: configuration.outboxBatchSize,
            lease: configuration.outboxLease, pollInterval: configuration.outboxPollInterval, logger: logger)

        var services: [ServiceGroupConfiguration.ServiceConfiguration] = resources.services + [
            .init(service: ResourceService(name: "systemd") { SystemdNotifier().stopping() }),
            .init(service: relay),
            .init(service: ingestion),
            .init(service: rpc),
        ]
        if configuration.reconcileInterval > .zero {
            // Requests go out on the RPC connection: it is not in confirm mode, and replies come back on it.
            services.append(.init(service: InventoryReconciler(
                client: try await AMQPRPCClient(connection: resources.rpc!), database: resources.outbox!,
                queue: configuration.names.inventoryRPCQueue,
                destination: .init(exchange: configuration.names.eventsExchange),
                interval: configuration.reconcileInterval, pageSize: configuration.reconcilePageSize,
                timeout: configuration.inventoryRPCTimeout, logger: logger)))
        }
        let systemd = SystemdNotifier()
        let group = ServiceGroup(
            configuration: .init(
                services: services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger
            ).withShutdownTimeout(configuration.shutdownTimeout))
        logger.info(
            "ready",
            metadata: [
                "amqp": "\(configuration.amqp.endpoint)", "postgres": "\(configuration.postgres.target)",
                "queues": "\(configuration.names.eventsQueue),\(configuration.names.rpcQueue),\(configuration.names.deadLetterQueue)",
            ])
        systemd.ready()
        try await group.run()
        logger.info("stopped")
    }

    /// Rules and templates, checked before anything connects: a broken template stops the start, naming its file.
    private func loadNotifier() throws -> Notifier {
        guard let data = FileManager.default.contents(atPath: configuration.rulesFile) else {
            throw TemplateError(file: configuration.rulesFile, reason: "cannot be read")
        }
        let rules = try NotificationRules(json: data)
        return Notifier(rules: rules, templates: try TemplateCatalog(directory: configuration.templatesDirectory, rules: rules))
    }
}

/// The pools and connections the services share, opened in dependency order.
private struct Resources {
    let logger: Logger
    var writes: PGPool?
    var reads: PGPool?
    /// Connections for the outbox relay (one per relay worker) and reconciliation, so publishing never waits on
    /// ingestion's connections.
    var outbox: PGPool?
    var consuming: AMQPConnection?
    var publishing: AMQPConnection?
    var rpc: AMQPConnection?

    init(logger: Logger) { self.logger = logger }

    mutating func open(_ configuration: DaemonConfiguration) async throws {
        var readConfiguration = configuration.postgres
        readConfiguration.poolSize = configuration.queryPoolSize
        var outboxConfiguration = configuration.postgres
        outboxConfiguration.poolSize = OutboxRelay.workers
        let writes = PGPool(configuration: configuration.postgres, logger: logger)
        let reads = PGPool(configuration: readConfiguration, logger: logger)
        let outbox = PGPool(configuration: outboxConfiguration, logger: logger)
        (self.writes, self.reads, self.outbox) = (writes, reads, outbox)
        do {
            try await writes.connect()
            try await reads.connect()
            try await outbox.connect()
        } catch {
            throw StartupError(step: "PostgreSQL", reason: error.description)
        }
        do {
            try await PGMigrator(migrations: Migrations.all).migrate(on: writes, logger: logger)
        } catch {
            throw StartupError(step: "database migrations", reason: "\(error)")
        }
        func connection(_ role: String, confirms: Bool) -> AMQPConnection {
            var amqp = configuration.amqp
            amqp.connectionName = "notifyd.\(role)"
            return AMQPConnection(configuration: amqp, confirmMode: confirms, logger: logger)
        }
        let consuming = connection("consume", confirms: false)
        let publishing = connection("publish", confirms: true)
        let rpc = connection("rpc", confirms: false)
        do {
            try await consuming.connect()
            self.consuming = consuming
            try await publishing.connect()
            self.publishing = publishing
            try await rpc.connect()
            self.rpc = rpc
            try await consuming.declare(.contract(
                configuration.names, deliveryLimit: configuration.eventsDeliveryLimit,
                rpcRequestTTLMilliseconds: configuration.rpcRequestTTLMilliseconds))
        } catch {
            throw StartupError(step: "RabbitMQ at \(configuration.amqp.endpoint)", reason: error.description)
        }
    }

    /// Closing services, in dependency order (the group stops them in reverse).
    var services: [ServiceGroupConfiguration.ServiceConfiguration] {
        let (writes, reads, outbox, consuming, publishing, rpc) = (writes!, reads!, outbox!, consuming!, publishing!, rpc!)
        return [
            .init(service: ResourceService(name: "postgres") {
                await outbox.close()
                await reads.close()
                await writes.close()
            }),
            .init(service: ResourceService(name: "amqp") {
                await rpc.close()
                await publishing.close()
                await consuming.close()
            }),
        ]
    }

    func close() async {
        await rpc?.close()
        await publishing?.close()
        await consuming?.close()
        await outbox?.close()
        await reads?.close()
        await writes?.close()
    }
}

/// A start-up step that failed; printed as one line, then the process exits non-zero.
struct StartupError: Error, CustomStringConvertible {
    var step: String
    var reason: String
    var description: String { "cannot start: \(step): \(reason)" }
}

/// Holds an open resource until graceful shutdown, then releases it. Services stop in reverse order, so listing
/// resources before the services that use them closes them last.
struct ResourceService: Service {
    let name: String
    let release: @Sendable () async -> Void

    func run() async throws {
        try? await gracefulShutdown()
        await release()
    }
}

extension ServiceGroupConfiguration {
    /// Escalates to cancellation if draining takes longer than `timeout`.
    func withShutdownTimeout(_ timeout: Duration) -> ServiceGroupConfiguration {
        var configuration = self
        configuration.maximumGracefulShutdownDuration = timeout
        return configuration
    }
}
