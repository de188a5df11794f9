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
        await group.addServiceUnlessShutdown(
            .init(
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
        let lanes = LaneBuffer(normalPerLow: configuration.delivery.normalPerLow)
        let doorbell = OutboxDoorbell()
        let planner = IngestionPlanner(
            renderer: renderer, policy: configuration.inventory.policy,
            outOfStockExchange: configuration.names.eventsExchange, deliveringChannels: Set(providers.keys),
            workExchange: configuration.names.workExchange, newID: RandomID.uuid)
        warnAboutUndelivered(renderer.rules, delivering: planner.delivery.deliveringChannels)
        let reconciler: InventoryReconciler?
        do {
            reconciler = try await makeReconciler(resources, planner: planner, doorbell: doorbell)
        } catch {
            throw StartupError(
                step: "RabbitMQ at \(configuration.amqp.endpoints.map(\.description).joined(separator: ", "))", reason: "\(error)")
        }
        let systemd = SystemdNotifier()
        let readiness = Readiness(
            parts: [EventIngestion.part, RPCServer.part], logger: logger, systemd: systemd,
            readyMetadata: [
                "amqp": "\(configuration.amqp.endpoints.map(\.description).joined(separator: ","))",
                "postgres": "\(configuration.database.connection.target)",
                "queues": "\(configuration.names.eventsQueue),\(configuration.names.rpcQueue),\(configuration.names.deadLetterQueue)",
            ])
        let ingestion = makeIngestion(resources, planner: planner, doorbell: doorbell, readiness: readiness, metrics: metrics)
        let sending = SendContext(
            planner: planner.delivery, settings: configuration.send, templates: TemplateCache(), outboxCommitted: doorbell.ring)
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
        let worker = makeWorker(resources, providers: providers, lanes: lanes, health: health, metrics: metrics, doorbell: doorbell)
        let sampler = StateSampler(
            connection: resources.monitoring, database: resources.reads, lanes: lanes, health: health, metrics: metrics,
            names: configuration.names, interval: .seconds(5), logger: logger)
        let release = ScheduledRelease(
            database: resources.outbox, doorbell: doorbell, batch: configuration.outbox.batchSize, logger: logger)
        let retention = RetentionJob(database: resources.reads, settings: configuration.retention, metrics: metrics, logger: logger)
        let sweeper = ClaimSweeper(
            database: resources.outbox, policy: configuration.delivery.sweep, metrics: metrics, outboxCommitted: doorbell.ring,
            logger: logger)
        var services: [any Service] = [systemd, watchdog, sampler, relay, release, retention, sweeper, worker, ingestion, rpc]
        if configuration.http.isEnabled {
            // First, so the group stops it last: health answers while the consumers drain.
            services.insert(
                HTTPListener(
                    settings: configuration.http,
                    checks: HealthChecks(
                        connections: resources.named, database: resources.reads, readiness: readiness, providers: health,
                        lanes: lanes, laneAgeLimits: configuration.http.deliveryLaneAgeSeconds, probes: resources.probes),
                    providers: Array(providers.values.joined()), commands: commands, database: resources.reads,
                    unsubscribe: UnsubscribeSigner(secrets: configuration.email.unsubscribeSecrets), metrics: metrics, logger: logger),
                at: 0)
        }
        // Before everything that counts refusals, so the group stops it after them: its last flush sees them all.
        services.insert(refusals, at: 0)
        if configuration.topology.archiveParked {
            services.append(
                DeadLetterArchive(
                    connection: resources.delivering, database: resources.outbox, queue: configuration.names.deadLetterQueue, logger: logger
                ))
        }
        return services + (reconciler.map { [$0] } ?? [])
    }

    private func makeWorker(
        _ resources: Resources, providers: [NotificationChannel: [any DeliveryProvider]], lanes: LaneBuffer, health: ProviderHealth,
        metrics: DaemonMetrics, doorbell: OutboxDoorbell
    ) -> DeliveryWorker {
        DeliveryWorker(
            connection: resources.delivering, database: resources.deliveries, providers: providers,
            parker: DeadLetterParker(
                publishing: resources.delivering, exchange: configuration.names.deadLetterExchange,
                topology: configuration.declaredTopology, logger: logger),
            names: configuration.names, settings: configuration.delivery, lanes: lanes, health: health, metrics: metrics,
            outboxCommitted: doorbell.ring, logger: logger)
    }

    /// Says at start which channels the rules name that no provider delivers on.
    private func warnAboutUndelivered(_ rules: NotificationRules, delivering: Set<NotificationChannel>) {
        let undelivered = Set(rules.rules.flatMap(\.channels)).subtracting(delivering)
        if !undelivered.isEmpty {
            logger.warning(
                "rules name channels no provider delivers on; their deliveries are recorded as skipped (no-provider)",
                metadata: ["channels": "\(undelivered.map(\.rawValue).sorted().joined(separator: ","))"])
        }
        let unusedFallbacks = Set(rules.rules.flatMap(\.fallbacks.values)).subtracting(delivering)
        if !unusedFallbacks.isEmpty {
            logger.warning(
                "rules fall back to channels no provider delivers on; those fallbacks are not used",
                metadata: ["channels": "\(unusedFallbacks.map(\.rawValue).sorted().joined(separator: ","))"])
        }
    }

    private func makeIngestion(
        _ resources: Resources, planner: IngestionPlanner, doorbell: OutboxDoorbell, readiness: Readiness, metrics: DaemonMetrics
    ) -> EventIngestion {
        var input = JSONInput()
        input.maxBytes = configuration.ingestion.maxBodyBytes
        return EventIngestion(
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
    }

    /// The providers configured, by channel, in failover order.
    private func makeProviders(database: PGPool, transport: HTTPTransport) async throws -> [NotificationChannel: [any DeliveryProvider]] {
        var providers: [NotificationChannel: [any DeliveryProvider]] = [:]
        let email = configuration.email
        let composer = EmailComposer(
            fromAddress: email.from, fromName: email.fromName, unsubscribeURL: email.unsubscribeURL,
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
        if let twilio = configuration.twilio.account {
            providers[.sms, default: []].append(TwilioProvider(settings: twilio, transport: transport))
        }
        if let fcm = configuration.fcm.fcm {
            do {
                providers[.push, default: []].append(
                    try await FCMProvider(settings: fcm, transport: transport) { job, tokens in
                        await removePushTokens(tokens, of: job, database)
                    })
            } catch {
                throw StartupError(step: "push provider \(fcm)", reason: "\(error)")
            }
        }
        if let apns = configuration.apns.apns {
            do {
                providers[.push, default: []].append(
                    try await APNsProvider(settings: apns, transport: transport) { job, tokens in
                        await removePushTokens(tokens, of: job, database)
                    })
            } catch {
                throw StartupError(step: "push provider \(apns)", reason: "\(error)")
            }
        }
        if configuration.webhooks.enabled {
            let webhooks = configuration.webhooks
            providers[.webhook, default: []].append(
                WebhookProvider(
                    policy: webhooks.policy, timeout: .seconds(webhooks.timeoutSeconds), rateLimit: webhooks.rateLimit, transport: transport
                ) { job, url, reason in
                    await disableWebhook(url, of: job, reason: reason, database)
                })
        }
        for provider in providers.values.joined() {
            logger.info(
                "provider configured",
                metadata: [
                    "delivery.channel": "\(provider.channel.rawValue)", "provider": "\(provider.name)",
                    "provider.endpoint": "\(provider.endpoint)",
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
