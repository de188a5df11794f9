import AMQP
import Foundation
import Logging
import NotifyCore
import NotifyStore
import Postgres
import Providers
import ServiceLifecycle

/// Brings the daemon up in dependency order and keeps it up until SIGTERM or SIGINT, as one `ServiceGroup`.
///
/// The group starts with the pools and connections (each a `Service` that closes itself when the group stops it)
/// and `Startup`, which opens them in order — PostgreSQL pools → migrations → AMQP connections (consume, publish,
/// rpc) → topology — and then adds the services that use them: systemd, watchdog, outbox relay, ingestion, RPC and
/// (when configured) reconciliation; readiness says `ready` once the consumers are attached. A failure in any
/// step is a `StartupError` naming the step and the server: the group shuts down, every resource closes itself
/// (closing what never opened is a no-op), and the error is what `run` throws. The group stops services in reverse
/// order — RPC and ingestion drain first, then connections and pools close — within `shutdownTimeout`.
struct Daemon {
    let configuration: DaemonConfiguration
    let logger: Logger

    func run() async throws {
        let renderer = try loadRenderer()
        let resources = Resources(configuration, logger: logger)
        let group = ServiceGroup(
            configuration: .init(
                services: resources.all.map { .init(service: $0) },
                gracefulShutdownSignals: [.sigterm, .sigint],
                cancellationSignals: [],
                logger: logger
            ).withShutdownTimeout(configuration.shutdownTimeout))
        await group.addServiceUnlessShutdown(.init(
            service: Startup(daemon: self, renderer: renderer, resources: resources, group: group),
            successTerminationBehavior: .ignore, failureTerminationBehavior: .gracefullyShutdownGroup))
        try await group.run()
        logger.info("stopped")
    }

    /// Opens the resources, then adds the services that use them to the group.
    private struct Startup: Service {
        let daemon: Daemon
        let renderer: NotificationRenderer
        let resources: Resources
        let group: ServiceGroup

        func run() async throws {
            try await resources.open(daemon.configuration)
            // A service that fails (a listener that cannot bind, a consumer that cannot attach) drains the others
            // and its error is what the daemon exits with.
            for service in try await daemon.services(resources, renderer: renderer) {
                await group.addServiceUnlessShutdown(.init(service: service, failureTerminationBehavior: .gracefullyShutdownGroup))
            }
        }
    }

    /// The services, in dependency order, on opened resources.
    private func services(_ resources: Resources, renderer: NotificationRenderer) async throws -> [any Service] {
        let providers = try await makeProviders(database: resources.deliveries, transport: resources.http)
        let health = ProviderHealth(providers, policy: configuration.delivery.breaker)
        let metrics = DaemonMetrics()
        let lanes = LaneInbox(normalPerLow: configuration.delivery.normalPerLow)
        let doorbell = OutboxDoorbell()
        let planner = IngestionPlanner(
            renderer: renderer, policy: configuration.inventory.policy,
            outOfStockExchange: configuration.names.eventsExchange, deliveringChannels: Set(providers.keys),
            workExchange: configuration.names.workExchange, newID: RandomID.uuid)
        let undelivered = Set(renderer.rules.rules.flatMap(\.channels)).subtracting(planner.deliveringChannels)
        if !undelivered.isEmpty {
            logger.warning(
                "rules name channels no provider delivers on; their deliveries are recorded as skipped (no-provider)",
                metadata: ["channels": "\(undelivered.map(\.rawValue).sorted().joined(separator: ","))"])
        }
        let unusedFallbacks = Set(renderer.rules.rules.flatMap(\.fallbacks.values)).subtracting(planner.deliveringChannels)
        if !unusedFallbacks.isEmpty {
            logger.warning(
                "rules fall back to channels no provider delivers on; those fallbacks are not used",
                metadata: ["channels": "\(unusedFallbacks.map(\.rawValue).sorted().joined(separator: ","))"])
        }
        let reconciler: InventoryReconciler?
        do {
            reconciler = try await makeReconciler(resources, planner: planner, doorbell: doorbell)
        } catch {
            throw StartupError(step: "RabbitMQ at \(configuration.amqp.endpoints.map(\.description).joined(separator: ", "))", reason: "\(error)")
        }
        var input = JSONInput()
        input.maxBytes = configuration.ingestion.maxBodyBytes
        let systemd = SystemdNotifier()
        let readiness = Readiness(
            parts: [EventIngestion.part, RPCServer.part], logger: logger, systemd: systemd,
            readyMetadata: [
                "amqp": "\(configuration.amqp.endpoints.map(\.description).joined(separator: ","))", "postgres": "\(configuration.database.connection.target)",
                "queues": "\(configuration.names.eventsQueue),\(configuration.names.rpcQueue),\(configuration.names.deadLetterQueue)",
            ])
        let ingestion = EventIngestion(
            consuming: resources.consuming,
            parker: DeadLetterParker(
                publishing: resources.publishing, exchange: configuration.names.deadLetterExchange,
                topology: configuration.declaredTopology, logger: logger),
            store: IngestionStore(database: resources.writes, outboxCommitted: doorbell.ring),
            journal: CrashJournal(database: resources.writes),
            planner: planner,
            decoder: EventDecoder(input: input, window: configuration.ingestion.timestampWindow),
            queue: configuration.names.eventsQueue, prefetch: configuration.ingestion.prefetch,
            oversizedBudget: configuration.ingestion.oversizedBudgetBytes, readiness: readiness,
            metrics: metrics, logger: logger)
        let sending = SendContext(planner: planner, settings: configuration.send, templates: TemplateCache(), outboxCommitted: doorbell.ring)
        let refusals = RefusalAuditor(database: resources.writes, window: configuration.refusalWindow, logger: logger)
        let commands = CommandRouter(
            authenticator: Authenticator(settings: configuration.auth, refusals: refusals), sending: sending,
            committer: SendCommitter(database: resources.sends, context: sending, refusals: refusals, metrics: metrics, logger: logger),
            logger: logger)
        let rpc = RPCServer(
            connection: resources.rpc, queries: resources.reads, queue: configuration.names.rpcQueue,
            prefetch: configuration.rpcPrefetch, router: commands, readiness: readiness, metrics: metrics, logger: logger)
        let watchdog = Watchdog(systemd: systemd, probes: resources.probes, logger: logger)
        let relay = OutboxRelay(
            outbox: OutboxStore(database: resources.outbox), publishing: resources.publishing,
            batchSize: configuration.outbox.batchSize, workers: configuration.outbox.workers,
            lease: configuration.outbox.lease, pollInterval: configuration.outbox.pollInterval, doorbell: doorbell,
            logger: logger)
        let worker = DeliveryWorker(
            connection: resources.delivering, database: resources.deliveries, providers: providers,
            parker: DeadLetterParker(
                publishing: resources.delivering, exchange: configuration.names.deadLetterExchange,
                topology: configuration.declaredTopology, logger: logger),
            names: configuration.names, settings: configuration.delivery, inbox: lanes, health: health, metrics: metrics,
            outboxCommitted: doorbell.ring, logger: logger)
        let sampler = StateSampler(
            connection: resources.monitoring, database: resources.reads, inbox: lanes, health: health, metrics: metrics,
            names: configuration.names, interval: .seconds(5), logger: logger)
        let release = ScheduledRelease(database: resources.outbox, doorbell: doorbell, batch: configuration.outbox.batchSize, logger: logger)
        let retention = RetentionJob(database: resources.reads, settings: configuration.retention, metrics: metrics, logger: logger)
        let sweeper = ClaimSweeper(
            database: resources.outbox, policy: configuration.delivery.sweep, metrics: metrics, outboxCommitted: doorbell.ring, logger: logger)
        var services: [any Service] = [systemd, watchdog, sampler, relay, release, retention, sweeper, worker, ingestion, rpc]
        if configuration.http.isEnabled {
            // First, so the group stops it last: health answers while the consumers drain.
            services.insert(HTTPListener(
                settings: configuration.http,
                checks: HealthChecks(
                    connections: resources.named, database: resources.reads, readiness: readiness, providers: health,
                    inbox: lanes, laneAgeLimits: configuration.http.deliveryLaneAgeSeconds, probes: resources.probes),
                providers: Array(providers.values.joined()), commands: commands, database: resources.reads,
                unsubscribe: UnsubscribeSigner(secrets: configuration.email.unsubscribeSecrets), metrics: metrics, logger: logger), at: 0)
        }
        // Before everything that counts refusals, so the group stops it after them: its last flush sees them all.
        services.insert(refusals, at: 0)
        if configuration.topology.archiveParked {
            services.append(DeadLetterArchive(
                connection: resources.delivering, database: resources.outbox, queue: configuration.names.deadLetterQueue, logger: logger))
        }
        return services + (reconciler.map { [$0] } ?? [])
    }

    /// The providers configured, by channel, in failover order.
    private func makeProviders(database: PGPool, transport: HTTPTransport) async throws -> [NotificationChannel: [any DeliveryProvider]] {
        var providers: [NotificationChannel: [any DeliveryProvider]] = [:]
        let email = configuration.email
        let composer = EmailComposer(fromAddress: email.from, fromName: email.fromName, unsubscribeURL: email.unsubscribeURL,
                                     unsubscribeSigner: UnsubscribeSigner(secrets: email.unsubscribeSecrets))
        for name in email.providers {
            switch name {
            case "smtp":
                guard let smtp = email.smtp else { continue }
                do {
                    let client = try SMTPClient(settings: smtp, logger: logger)
                    providers[.email, default: []].append(SMTPEmailProvider(client: client, composer: composer, rateLimit: email.rateLimit))
                } catch {
                    throw StartupError(step: "email provider \(smtp)", reason: "cannot set up TLS: \(error)")
                }
            case "ses":
                guard let ses = email.ses else { continue }
                do {
                    providers[.email, default: []].append(try SESEmailProvider(settings: ses, composer: composer, transport: transport))
                } catch {
                    throw StartupError(step: "email provider \(ses)", reason: "\(error)")
                }
            default: continue
            }
        }
        if let twilio = configuration.twilio.twilio {
            providers[.sms, default: []].append(TwilioProvider(settings: twilio, transport: transport))
        }
        if let fcm = configuration.fcm.fcm {
            do {
                providers[.push, default: []].append(try await FCMProvider(settings: fcm, transport: transport) { job, tokens in
                    await removePushTokens(tokens, of: job, database)
                })
            } catch {
                throw StartupError(step: "push provider \(fcm)", reason: "\(error)")
            }
        }
        if let apns = configuration.apns.apns {
            do {
                providers[.push, default: []].append(try await APNsProvider(settings: apns, transport: transport) { job, tokens in
                    await removePushTokens(tokens, of: job, database)
                })
            } catch {
                throw StartupError(step: "push provider \(apns)", reason: "\(error)")
            }
        }
        if configuration.webhooks.enabled {
            let webhooks = configuration.webhooks
            providers[.webhook, default: []].append(WebhookProvider(
                policy: webhooks.policy, timeout: .seconds(webhooks.timeoutSeconds), rateLimit: webhooks.rateLimit, transport: transport
            ) { job, url, reason in
                await disableWebhook(url, of: job, reason: reason, database)
            })
        }
        for provider in providers.values.joined() {
            logger.info("provider configured", metadata: [
                "delivery.channel": "\(provider.channel.rawValue)", "provider": "\(provider.name)", "provider.endpoint": "\(provider.endpoint)",
                "provider.receipts": "\(provider.receipts?.path ?? "none")",
            ])
        }
        return providers
    }

    /// Rules and templates, checked before anything connects: a broken template stops the start, naming its file.
    private func loadRenderer() throws -> NotificationRenderer {
        guard let data = FileManager.default.contents(atPath: configuration.templates.rules) else {
            throw TemplateError(file: configuration.templates.rules, reason: "cannot be read")
        }
        let rules = try NotificationRules(json: data)
        let directory = configuration.templates.directory
        let templates = try TemplateCatalog(rules: rules, location: directory) { name in
            FileManager.default.contents(atPath: "\(directory)/\(name)").flatMap { String(data: $0, encoding: .utf8) }
        }
        return NotificationRenderer(rules: rules, templates: templates)
    }

    /// The GetInventoryList cross-check, when an interval is configured. Its requests go out on the RPC connection:
    /// it is not in confirm mode, and the replies come back on it.
    private func makeReconciler(
        _ resources: Resources, planner: IngestionPlanner, doorbell: OutboxDoorbell
    ) async throws -> InventoryReconciler? {
        guard configuration.inventory.reconcileInterval > .zero else { return nil }
        return InventoryReconciler(
            client: try await AMQPRPCClient(connection: resources.rpc),
            store: IngestionStore(database: resources.outbox, outboxCommitted: doorbell.ring),
            planner: planner, queue: configuration.names.inventoryRPCQueue,
            interval: configuration.inventory.reconcileInterval, pageSize: configuration.inventory.reconcilePageSize,
            timeout: configuration.inventory.rpcTimeout, logger: logger)
    }
}

/// The pools and connections the services share.
private struct Resources: Sendable {
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
            throw StartupError(step: "RabbitMQ at \(configuration.amqp.endpoints.map(\.description).joined(separator: ", "))", reason: error.description)
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
    var all: [any Service] { [HTTPTransportService(transport: http), writes, reads, sends, outbox, deliveries, consuming, publishing, rpc, delivering, monitoring] }
}

/// A start-up step that failed; printed as one line, then the process exits non-zero.
struct StartupError: Error, CustomStringConvertible {
    var step: String
    var reason: String
    var description: String { "cannot start: \(step): \(reason)" }
}

extension ServiceGroupConfiguration {
    /// Escalates to cancellation if draining takes longer than `timeout`.
    func withShutdownTimeout(_ timeout: Duration) -> ServiceGroupConfiguration {
        var configuration = self
        configuration.maximumGracefulShutdownDuration = timeout
        return configuration
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
