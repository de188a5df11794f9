import AMQP
import Logging
import NotifyCore
import Postgres
import ServiceLifecycle

/// Brings the daemon up in dependency order and keeps it up until SIGTERM or SIGINT.
///
/// Start: PostgreSQL pool → migrations → consuming connection → publishing connection → topology → `ready`.
/// A failure in any step is thrown as a `StartupError` naming the step and the server, and nothing keeps running.
/// Stop: the service group's graceful shutdown closes connections in reverse order, within `shutdownTimeout`.
struct Daemon {
    let configuration: DaemonConfiguration
    let logger: Logger

    func run() async throws {
        let database = PGPool(configuration: configuration.postgres, logger: logger)
        do {
            try await database.connect()
        } catch {
            throw StartupError(step: "PostgreSQL", reason: error.description)
        }
        do {
            try await PGMigrator(migrations: Migrations.all).migrate(on: database, logger: logger)
        } catch {
            await database.close()
            throw StartupError(step: "database migrations", reason: "\(error)")
        }

        var consumingConfiguration = configuration.amqp
        consumingConfiguration.connectionName = "notifyd.consume"
        var publishingConfiguration = configuration.amqp
        publishingConfiguration.connectionName = "notifyd.publish"
        let consuming = AMQPConnection(configuration: consumingConfiguration, confirmMode: false, logger: logger)
        let publishing = AMQPConnection(configuration: publishingConfiguration, confirmMode: true, logger: logger)
        do {
            try await consuming.connect()
            try await publishing.connect()
            let topology = AMQPTopology.contract(
                configuration.names, deliveryLimit: configuration.eventsDeliveryLimit,
                rpcRequestTTLMilliseconds: configuration.rpcRequestTTLMilliseconds)
            try await consuming.declare(topology)
        } catch {
            await publishing.close()
            await consuming.close()
            await database.close()
            throw StartupError(step: "RabbitMQ at \(configuration.amqp.endpoint)", reason: error.description)
        }

        let systemd = SystemdNotifier()
        let group = ServiceGroup(
            configuration: .init(
                services: [
                    .init(service: ResourceService(name: "postgres") { await database.close() }),
                    .init(service: ResourceService(name: "amqp.publish") { await publishing.close() }),
                    .init(service: ResourceService(name: "amqp.consume") { await consuming.close() }),
                    .init(service: ResourceService(name: "systemd") { systemd.stopping() }),
                ],
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
}

/// A start-up step that failed; printed as one line, then the process exits non-zero.
struct StartupError: Error, CustomStringConvertible {
    var step: String
    var reason: String
    var description: String { "cannot start: \(step): \(reason)" }
}

/// Holds an open resource until graceful shutdown, then releases it. Services stop in reverse order, so listing
/// resources in dependency order closes the dependents first.
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
