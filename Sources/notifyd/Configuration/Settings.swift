import AMQP
import Configuration
import Foundation
import Logging
import NotifyCore
import NotifyStore
import Postgres
import Providers

// The sections of the configuration, one type each (the providers' are in `ProviderSettings.swift`). A default is
// written once, as the initial value of its property (or in the AMQP and Postgres modules' own configuration
// types); `init(config:)` reads every key of its section with that default. `Config/notifyd.json` and the table of
// docs/configuration.md are checked against these by `DaemonConfigurationTests`.

/// `amqp.*`: the broker.
extension AMQPConfiguration {
    init(config: ConfigReader) throws(ConfigurationError) {
        let defaults = try! AMQPConfiguration(url: AMQPConfiguration.defaultURL)
        do {
            try self.init(url: config.string(forKey: "amqp.url", isSecret: true, default: AMQPConfiguration.defaultURL))
        } catch {
            throw ConfigurationError(key: "amqp.url", reason: error.reason)
        }
        let defaultPort = endpoint.tls ? 5671 : 5672
        alternateNodes = try config.stringArray(forKey: "amqp.nodes", default: []).filter { !$0.isEmpty }.map {
            (text) throws(ConfigurationError) in
            do throws(AMQPError) {
                return try AMQPNode(parsing: text, defaultPort: defaultPort)
            } catch {
                throw ConfigurationError(key: "amqp.nodes", reason: error.reason)
            }
        }
        heartbeat = .seconds(try config.int("amqp.heartbeatSeconds", Int(defaults.heartbeat.components.seconds), 0...600))
        connectTimeout = .seconds(try config.int("amqp.connectTimeoutSeconds", Int(defaults.connectTimeout.components.seconds), 1...120))
        connectionName = "notifyd"
        caCertificatePath = config.optionalString("amqp.tls.caCertificate")
        clientCertificatePath = config.optionalString("amqp.tls.clientCertificate")
        clientKeyPath = config.optionalString("amqp.tls.clientKey")
    }
}

/// `postgres.*`: the database, and the three pools the daemon opens on it.
struct DatabaseSettings: Sendable, Equatable {
    /// The connection settings, and the size of the ingestion pool (`postgres.poolSize`).
    var connection: PGConfiguration
    /// Connections answering RPC queries.
    var queryPoolSize = 4
    static let defaultURL = "postgresql://notify@127.0.0.1:5432/notify"

    init(config: ConfigReader) throws(ConfigurationError) {
        do {
            connection = try PGConfiguration(url: config.string(forKey: "postgres.url", isSecret: true, default: Self.defaultURL))
        } catch {
            throw ConfigurationError(key: "postgres.url", reason: error.reason)
        }
        let defaults = connection
        connection.poolSize = try config.int("postgres.poolSize", defaults.poolSize, 1...64)
        queryPoolSize = try config.int("postgres.queryPoolSize", queryPoolSize, 1...64)
        connection.connectTimeoutSeconds = try config.int("postgres.connectTimeoutSeconds", defaults.connectTimeoutSeconds, 1...120)
        connection.statementTimeoutMilliseconds = try config.int(
            "postgres.statementTimeoutMilliseconds", defaults.statementTimeoutMilliseconds, 0...3_600_000)
        connection.tcpUserTimeoutMilliseconds = try config.int(
            "postgres.tcpUserTimeoutMilliseconds", defaults.tcpUserTimeoutMilliseconds, 1000...600_000)
        if let mode = config.optionalString("postgres.tls.mode") {
            let modes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
            guard modes.contains(mode) else {
                throw ConfigurationError(key: "postgres.tls.mode", reason: "must be one of \(modes.joined(separator: ", "))")
            }
            connection.tlsMode = mode
        }
        connection.tlsCACertificatePath = config.optionalString("postgres.tls.caCertificate")
    }
}

/// `topology.*`: the names of the contract (docs/api.md) and the declared queue arguments.
struct TopologySettings: Sendable, Equatable {
    var names = ContractNames()
    /// Move parked messages from the dead-letter queue into the archive (`ListParked`, `RedriveParked`).
    var archiveParked = true
    /// Redeliveries after which the broker parks a message that keeps failing.
    var eventsDeliveryLimit = 20
    /// RPC requests older than this expire unanswered.
    var rpcRequestTTLMilliseconds = 30_000
    /// `classic` (one node holds it) or `quorum` (replicated: the RPC queue survives a node of a cluster). Changing
    /// it for an existing queue needs that queue deleted first (the broker refuses another type under one name).
    var rpcQueueType = "classic"

    init(config: ConfigReader) throws(ConfigurationError) {
        let defaults = names
        names.eventsExchange = config.string(forKey: "topology.eventsExchange", default: defaults.eventsExchange)
        names.eventsQueue = config.string(forKey: "topology.eventsQueue", default: defaults.eventsQueue)
        names.deadLetterExchange = config.string(forKey: "topology.deadLetterExchange", default: defaults.deadLetterExchange)
        names.deadLetterQueue = config.string(forKey: "topology.deadLetterQueue", default: defaults.deadLetterQueue)
        names.rpcQueue = config.string(forKey: "topology.rpcQueue", default: defaults.rpcQueue)
        names.inventoryRPCQueue = config.string(forKey: "topology.inventoryRpcQueue", default: defaults.inventoryRPCQueue)
        names.workExchange = config.string(forKey: "topology.workExchange", default: defaults.workExchange)
        names.deliveryQueuePrefix = config.string(forKey: "topology.deliveryQueuePrefix", default: defaults.deliveryQueuePrefix)
        archiveParked = config.bool(forKey: "topology.archiveParked", default: archiveParked)
        eventsDeliveryLimit = try config.int("topology.eventsDeliveryLimit", eventsDeliveryLimit, 1...1000)
        rpcRequestTTLMilliseconds = try config.int("topology.rpcRequestTtlMilliseconds", rpcRequestTTLMilliseconds, 100...3_600_000)
        rpcQueueType = config.string(forKey: "topology.rpcQueueType", default: rpcQueueType)
        guard ["classic", "quorum"].contains(rpcQueueType) else {
            throw ConfigurationError(key: "topology.rpcQueueType", reason: "must be classic or quorum")
        }
    }

    /// The exchanges, queues and bindings the daemon declares.
    var declared: AMQPTopology {
        .contract(
            names, deliveryLimit: eventsDeliveryLimit, rpcRequestTTLMilliseconds: rpcRequestTTLMilliseconds,
            rpcQueueType: rpcQueueType)
    }
}

/// `ingestion.*`: consuming events.
struct IngestionSettings: Sendable, Equatable {
    /// Unacked events held; a commit batch is at most half of it.
    var prefetch = 1000
    /// Larger events are parked as `too-large`.
    var maxBodyBytes = 256 * 1024
    /// Larger events held at once to park them whole; past it they are dead-lettered unread.
    var oversizedBudgetBytes = 16 * 1024 * 1024
    /// How far ahead of this clock an event may be dated.
    var timestampWindow = TimestampWindow()

    init(config: ConfigReader) throws(ConfigurationError) {
        prefetch = try config.int("ingestion.prefetch", prefetch, 2...10_000)
        maxBodyBytes = try config.int("ingestion.maxBodyBytes", maxBodyBytes, 1024...16 * 1024 * 1024)
        // Held events take at most prefetch × maxBodyBytes (+ the oversized budget): keep that bounded.
        guard prefetch * maxBodyBytes <= 1 << 30 else {
            throw ConfigurationError(key: "ingestion.maxBodyBytes", reason: "times ingestion.prefetch must be at most 1 GiB")
        }
        oversizedBudgetBytes = try config.int("ingestion.oversizedBudgetBytes", oversizedBudgetBytes, 0...256 * 1024 * 1024)
        timestampWindow.allowedSkewSeconds = try config.int(
            "ingestion.maxClockSkewSeconds", timestampWindow.allowedSkewSeconds, 0...86_400)
    }
}

/// `inventory.*`: who hears about stock, and the `GetInventoryList` cross-check.
struct InventorySettings: Sendable, Equatable {
    var policy = InventoryPolicy()
    /// How often to cross-check; zero is off.
    var reconcileInterval: Duration = .zero
    var reconcilePageSize = 100
    var rpcTimeout: Duration = .seconds(2)

    init(config: ConfigReader) throws(ConfigurationError) {
        policy.watchers = config.stringArray(forKey: "inventory.watchers", default: []).filter { !$0.isEmpty }
        policy.lowStockThreshold = try config.int("inventory.lowStockThreshold", policy.lowStockThreshold, 0...1_000_000_000)
        for entry in config.stringArray(forKey: "inventory.lowStockOverrides", default: []) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let threshold = Int(parts[1]), threshold >= 0, !parts[0].isEmpty else {
                throw ConfigurationError(key: "inventory.lowStockOverrides", reason: "entries must look like product=threshold")
            }
            policy.lowStockOverrides[String(parts[0])] = threshold
        }
        reconcileInterval = .seconds(
            try config.int(
                "inventory.reconcileIntervalSeconds", Int(reconcileInterval.components.seconds), 0...86_400))
        reconcilePageSize = try config.int("inventory.reconcilePageSize", reconcilePageSize, 1...1000)
        rpcTimeout = .milliseconds(try config.int("inventory.rpcTimeoutMilliseconds", rpcTimeout.milliseconds, 10...60_000))
    }
}

/// `outbox.*`: the relay.
struct OutboxSettings: Sendable, Equatable {
    /// Events published per confirmed round.
    var batchSize = 500
    /// Rounds in flight at once, each with its own database connection.
    var workers = 4
    /// How long one round may hold its rows locked before the server ends its stalled session.
    var lease: Duration = .seconds(30)
    /// How often an idle relay looks for new rows.
    var pollInterval: Duration = .milliseconds(100)

    init(config: ConfigReader) throws(ConfigurationError) {
        batchSize = try config.int("outbox.batchSize", batchSize, 1...10_000)
        workers = try config.int("outbox.workers", workers, 1...16)
        lease = .seconds(try config.int("outbox.leaseSeconds", Int(lease.components.seconds), 1...3600))
        pollInterval = .milliseconds(try config.int("outbox.pollMilliseconds", pollInterval.milliseconds, 10...60_000))
    }
}

/// `retention.*`: how long rows are kept (`RetentionStore`), and how the job that prunes them paces itself.
struct RetentionSettings: Sendable, Equatable {
    /// Deduplication rows of consumed events, in days: far longer than a message can be redelivered.
    var inboxDays = 14
    /// Finished deliveries with their history and receipts, and closed digests, in days; 0 keeps them.
    var deliveryDays = 90
    /// The audit trail, in days; 0 (the default) keeps it for ever.
    var auditDays = 0
    /// How often a round runs; every daemon runs the job, one at a time prunes.
    var interval: Duration = .seconds(300)
    /// Rows per statement, and statements per table per round at most.
    var batchSize = 5_000
    var maxBatches = 100

    init(config: ConfigReader) throws(ConfigurationError) {
        inboxDays = try config.int("retention.inboxDays", inboxDays, 1...3_650)
        deliveryDays = try config.int("retention.deliveryDays", deliveryDays, 0...3_650)
        auditDays = try config.int("retention.auditDays", auditDays, 0...36_500)
        interval = .seconds(try config.int("retention.intervalSeconds", Int(interval.components.seconds), 1...86_400))
        batchSize = try config.int("retention.batchSize", batchSize, 100...100_000)
        maxBatches = try config.int("retention.maxBatches", maxBatches, 1...10_000)
    }

    var horizons: RetentionStore.Horizons { .init(inboxDays: inboxDays, deliveryDays: deliveryDays, auditDays: auditDays) }
}

/// `templates.*`: where rules and templates are, relative to the configuration file's folder.
struct TemplateSettings: Sendable, Equatable {
    var directory = "templates"
    var rules = "notification-rules.json"

    init(config: ConfigReader, baseDirectory: String) {
        func path(_ key: String, _ fallback: String) -> String {
            let value = config.string(forKey: ConfigKey(key), default: fallback)
            return value.hasPrefix("/") ? value : "\(baseDirectory)/\(value)"
        }
        directory = path("templates.directory", directory)
        rules = path("templates.rules", rules)
    }
}

extension Duration {
    /// Whole milliseconds, for defaults kept as durations but configured in milliseconds.
    var milliseconds: Int { Int(components.seconds) * 1000 + Int(components.attoseconds / 1_000_000_000_000_000) }
}

extension ConfigReader {
    /// A whole number within `range`; a value outside it is an error naming the key.
    func int(_ key: String, _ fallback: Int, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        let value = int(forKey: ConfigKey(key), default: fallback)
        guard range.contains(value) else {
            throw ConfigurationError(key: key, reason: "must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
        }
        return value
    }

    /// A string that may be absent; empty counts as absent.
    func optionalString(_ key: String) -> String? {
        string(forKey: ConfigKey(key)).flatMap { $0.isEmpty ? nil : $0 }
    }
}

/// `delivery.*`: the lanes, their workers and the retry tiers.
struct DeliverySettings: Sendable, Equatable {
    /// Batches in flight at once (each from one lane).
    var workers = 4
    /// More workers that take only the high lane.
    var highLaneWorkers = 1
    /// Jobs per batch: claimed, sent and recorded together.
    var batchSize = 256
    /// Unacked jobs held per lane.
    var prefetchHigh = 64
    var prefetchNormal = 1024
    var prefetchLow = 1024
    /// Batches of `normal` taken for each of `low` when both have work.
    var normalPerLow = 4
    var retry = RetryPolicy()
    /// The longest a job is held for its rate-limit slot; a later slot sends it to a retry tier instead (without
    /// spending an attempt), so nothing sits unacked near the broker's `consumer_timeout`.
    var maxPacingWait: Duration = .seconds(60)
    /// The longest a batch is held while its provider is down; then it waits in the tier of at least that delay,
    /// its attempts unspent. Well under RabbitMQ's `consumer_timeout` (30 min by default).
    var maxProviderHold: Duration = .seconds(300)
    /// The share of each provider's rate that the normal and low lanes may not use, kept for the high lane.
    var highLaneReservePercent = 20
    /// Deliveries per recipient per channel per hour (GCRA, a burst of as many); 0 is unlimited.
    var recipientLimitPerHour = 10
    /// Lanes whose jobs the per-recipient limit never holds back (one-time codes, security alerts, failed payments).
    var recipientLimitExemptLanes: Set<NotificationPriority> = [.high]
    /// Every provider's circuit breaker.
    var breaker = BreakerPolicy()
    /// When a claim counts as abandoned (`delivery.sweepAfterSeconds`), and how often each daemon sweeps.
    var sweep = ClaimSweep()

    init(config: ConfigReader) throws(ConfigurationError) {
        workers = try config.int("delivery.workers", workers, 1...64)
        highLaneWorkers = try config.int("delivery.highLaneWorkers", highLaneWorkers, 0...16)
        batchSize = try config.int("delivery.batchSize", batchSize, 1...1000)
        prefetchHigh = try config.int("delivery.prefetchHigh", prefetchHigh, 1...10_000)
        prefetchNormal = try config.int("delivery.prefetchNormal", prefetchNormal, 1...10_000)
        prefetchLow = try config.int("delivery.prefetchLow", prefetchLow, 1...10_000)
        normalPerLow = try config.int("delivery.normalPerLow", normalPerLow, 1...100)
        maxPacingWait = .seconds(try config.int("delivery.maxPacingWaitSeconds", Int(maxPacingWait.components.seconds), 0...1800))
        maxProviderHold = .seconds(try config.int("delivery.maxProviderHoldSeconds", Int(maxProviderHold.components.seconds), 1...1500))
        highLaneReservePercent = try config.int("delivery.highLaneReservePercent", highLaneReservePercent, 0...90)
        recipientLimitPerHour = try config.int("delivery.recipientLimitPerHour", recipientLimitPerHour, 0...100_000)
        let exempt = config.stringArray(
            forKey: "delivery.recipientLimitExemptLanes", default: recipientLimitExemptLanes.map(\.rawValue).sorted()
        ).filter { !$0.isEmpty }
        recipientLimitExemptLanes = []
        for name in exempt {
            guard let lane = NotificationPriority(rawValue: name) else {
                throw ConfigurationError(
                    key: "delivery.recipientLimitExemptLanes", reason: "names a lane that is none of high, normal, low")
            }
            recipientLimitExemptLanes.insert(lane)
        }
        breaker.failureRatePercent = try config.int("delivery.breakerFailureRatePercent", breaker.failureRatePercent, 1...100)
        breaker.window = try config.int("delivery.breakerWindow", breaker.window, 1...10_000)
        breaker.minimumCalls = try config.int("delivery.breakerMinimumCalls", breaker.minimumCalls, 1...breaker.window)
        breaker.openSeconds = Double(try config.int("delivery.breakerOpenSeconds", Int(breaker.openSeconds), 1...3600))
        breaker.maxOpenSeconds = Double(
            try config.int(
                "delivery.breakerMaxOpenSeconds", Int(breaker.maxOpenSeconds), Int(breaker.openSeconds)...86_400))
        breaker.halfOpenProbes = try config.int("delivery.breakerHalfOpenProbes", breaker.halfOpenProbes, 1...1000)
        sweep.intervalSeconds = try config.int("delivery.sweepIntervalSeconds", sweep.intervalSeconds, 1...3600)
        let minimum = ClaimSweep.minimumStaleSeconds(
            maxProviderHoldSeconds: Int(maxProviderHold.components.seconds), maxPacingWaitSeconds: Int(maxPacingWait.components.seconds))
        sweep.staleAfterSeconds = try config.int("delivery.sweepAfterSeconds", Swift.max(sweep.staleAfterSeconds, minimum), 1...86_400)
        guard sweep.staleAfterSeconds >= minimum else {
            throw ConfigurationError(
                key: "delivery.sweepAfterSeconds",
                reason: """
                    must be at least delivery.maxProviderHoldSeconds + delivery.maxPacingWaitSeconds + \(ClaimSweep.allowanceSeconds) \
                    (\(minimum)), so no claim a worker still holds is swept
                    """)
        }
        for lane in NotificationPriority.allCases {
            let key = "delivery.retrySeconds.\(lane.rawValue)"
            let delays = config.intArray(forKey: ConfigKey(key), default: retry.tiers[lane] ?? [])
            guard delays.count <= 20, delays.allSatisfy({ (1...86_400 * 7).contains($0) }) else {
                throw ConfigurationError(key: key, reason: "must list at most 20 delays of 1 s to 7 days")
            }
            retry.tiers[lane] = delays
        }
    }

    /// What a delivery round decides with.
    var round: DeliveryRound.Policy {
        DeliveryRound.Policy(
            retry: retry, maxPacingWaitSeconds: Double(maxPacingWait.milliseconds) / 1000,
            maxProviderHoldSeconds: Double(maxProviderHold.milliseconds) / 1000, highLaneReservePercent: highLaneReservePercent)
    }

    /// The per-recipient limit on `lane`, if any.
    func recipientLimit(_ lane: NotificationPriority) -> RateLimit? {
        guard recipientLimitPerHour > 0, !recipientLimitExemptLanes.contains(lane) else { return nil }
        return RateLimit(perSecond: Double(recipientLimitPerHour) / 3600, burst: recipientLimitPerHour)
    }

    func prefetch(_ lane: NotificationPriority) -> Int {
        switch lane {
        case .high: prefetchHigh
        case .normal: prefetchNormal
        case .low: prefetchLow
        }
    }
}
