import Synchronization
import AMQP
import Configuration
import Logging
import NotifyCore
import Postgres

/// Everything `notifyd` reads from `Config/notifyd.json` and `NOTIFY_*` environment variables.
///
/// ## Configuration keys
/// Environment names are the key in upper snake case with a `NOTIFY_` prefix: `amqp.heartbeatSeconds` is
/// `NOTIFY_AMQP_HEARTBEAT_SECONDS`. The environment wins over the file; the file wins over these defaults.
///
/// | key | type | default | notes |
/// |---|---|---|---|
/// | `log.level` | string | `info` | trace, debug, info, notice, warning, error, critical |
/// | `amqp.url` | string | `amqp://guest:guest@127.0.0.1:5672/%2f` | secret (may hold a password); `amqps://` for TLS |
/// | `amqp.heartbeatSeconds` | int | 10 | 0 disables heartbeats (not recommended) |
/// | `amqp.connectTimeoutSeconds` | int | 5 | TCP/TLS connect and AMQP handshake |
/// | `amqp.tls.caCertificate` | string | none | PEM bundle trusted for `amqps://` |
/// | `amqp.tls.clientCertificate` / `amqp.tls.clientKey` | string | none | mutual TLS |
/// | `postgres.url` | string | `postgresql://notify@127.0.0.1:5432/notify` | secret; any libpq URI |
/// | `postgres.poolSize` | int | 2 | connections for ingestion writes, 1...64 |
/// | `postgres.queryPoolSize` | int | 4 | connections for RPC queries, 1...64 |
/// | `postgres.connectTimeoutSeconds` | int | 5 | |
/// | `postgres.statementTimeoutMilliseconds` | int | 15000 | server-side bound on one statement; 0 is off |
/// | `postgres.tcpUserTimeoutMilliseconds` | int | 10000 | a silent server is given up after this |
/// | `postgres.tls.mode` | string | automatic | libpq `sslmode`; automatic: `verify-full` off loopback |
/// | `postgres.tls.caCertificate` | string | none | PEM bundle trusted for the server's certificate |
/// | `topology.eventsExchange` ... `topology.inventoryRpcQueue` | string | contract names | see `ContractNames` |
/// | `topology.eventsDeliveryLimit` | int | 20 | redeliveries before the broker parks a message that keeps failing |
/// | `topology.rpcRequestTtlMilliseconds` | int | 30000 | RPC requests older than this are dropped unanswered |
/// | `ingestion.prefetch` | int | 1000 | unacked events held; group-commit batches are at most half of it |
/// | `ingestion.maxBodyBytes` | int | 262144 | larger events are parked as `too-large` |
/// | `ingestion.oversizedBudgetBytes` | int | 16777216 | larger events held at once to park them whole |
/// | `ingestion.maxClockSkewSeconds` | int | 300 | events dated further ahead are parked as `future-timestamp` |
/// | `inventory.watchers` | string array | none | users told about stock-outs and low stock (env: comma-separated) |
/// | `inventory.lowStockThreshold` | int | 10 | low stock is at or below this; 0 turns low-stock notices off |
/// | `inventory.lowStockOverrides` | string array | none | per-product thresholds, `product=threshold` |
/// | `inventory.reconcileIntervalSeconds` | int | 0 | how often to cross-check with GetInventoryList; 0 is off |
/// | `inventory.reconcilePageSize` | int | 100 | items per GetInventoryList page |
/// | `inventory.rpcTimeoutMilliseconds` | int | 2000 | how long to wait for the inventory service's reply |
/// | `outbox.batchSize` | int | 500 | OutOfStock events published per confirmed round |
/// | `outbox.leaseSeconds` | int | 30 | how long a daemon reserves the rows it is publishing |
/// | `outbox.pollMilliseconds` | int | 100 | how often an idle relay looks for new rows |
/// | `rpc.prefetch` | int | 64 | requests in flight; they are answered `postgres.queryPoolSize` at a time |
/// | `templates.directory` | string | `templates` | relative paths are relative to the config file's folder |
/// | `templates.rules` | string | `notification-rules.json` | event → template, type, priority, channels |
/// | `shutdown.timeoutSeconds` | int | 8 | graceful drain budget; systemd's TimeoutStopSec must be larger |
struct DaemonConfiguration: Sendable {
    var logLevel: Logger.Level = .info
    var amqp: AMQPConfiguration
    var postgres: PGConfiguration
    var names = ContractNames()
    var eventsDeliveryLimit = 20
    var rpcRequestTTLMilliseconds = 30_000
    var queryPoolSize = 4
    var ingestionPrefetch = 1000
    var maxBodyBytes = 256 * 1024
    var timestampWindow = TimestampWindow()
    var oversizedBudgetBytes = 16 * 1024 * 1024
    var rpcPrefetch = 64
    var inventory = InventoryPolicy()
    var reconcileInterval: Duration = .zero
    var reconcilePageSize = 100
    var inventoryRPCTimeout: Duration = .seconds(2)
    var outboxBatchSize = 500
    var outboxLease: Duration = .seconds(30)
    var outboxPollInterval: Duration = .milliseconds(100)
    var templatesDirectory: String
    var rulesFile: String
    var shutdownTimeout: Duration = .seconds(8)

    /// The exchanges, queues and bindings the daemon declares.
    var topology: AMQPTopology {
        .contract(names, deliveryLimit: eventsDeliveryLimit, rpcRequestTTLMilliseconds: rpcRequestTTLMilliseconds)
    }

    static let defaultAMQPURL = "amqp://guest:guest@127.0.0.1:5672/%2f"
    static let defaultPostgresURL = "postgresql://notify@127.0.0.1:5432/notify"

    /// Reads and validates every key. Any problem, including a value of the wrong type (which the reader would
    /// otherwise silently replace with the default), is a `ConfigurationError` naming the key.
    /// - Parameter baseDirectory: relative file paths in the configuration are resolved against it (the folder of
    ///   the configuration file).
    init(config: ConfigReader, problems: ConfigProblems, baseDirectory: String = ".") throws(ConfigurationError) {
        func int(_ key: String, _ fallback: Int, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            let value = config.int(forKey: ConfigKey(key), default: fallback)
            guard range.contains(value) else {
                throw ConfigurationError(key: key, reason: "must be between \(range.lowerBound) and \(range.upperBound), not \(value)")
            }
            return value
        }
        func string(_ key: String, _ fallback: String, secret: Bool = false) -> String {
            config.string(forKey: ConfigKey(key), isSecret: secret, default: fallback)
        }
        func optional(_ key: String) -> String? {
            config.string(forKey: ConfigKey(key)).flatMap { $0.isEmpty ? nil : $0 }
        }

        let level = string("log.level", "info")
        guard let parsedLevel = Logger.Level(rawValue: level) else {
            throw ConfigurationError(key: "log.level", reason: "'\(level)' is not a log level")
        }
        logLevel = parsedLevel

        do {
            amqp = try AMQPConfiguration(url: string("amqp.url", Self.defaultAMQPURL, secret: true))
        } catch {
            throw ConfigurationError(key: "amqp.url", reason: error.reason)
        }
        amqp.heartbeat = .seconds(try int("amqp.heartbeatSeconds", 10, 0...600))
        amqp.connectTimeout = .seconds(try int("amqp.connectTimeoutSeconds", 5, 1...120))
        amqp.connectionName = "notifyd"
        amqp.caCertificatePath = optional("amqp.tls.caCertificate")
        amqp.clientCertificatePath = optional("amqp.tls.clientCertificate")
        amqp.clientKeyPath = optional("amqp.tls.clientKey")

        do {
            postgres = try PGConfiguration(url: string("postgres.url", Self.defaultPostgresURL, secret: true))
        } catch {
            throw ConfigurationError(key: "postgres.url", reason: error.reason)
        }
        postgres.poolSize = try int("postgres.poolSize", 2, 1...64)
        queryPoolSize = try int("postgres.queryPoolSize", 4, 1...64)
        postgres.connectTimeoutSeconds = try int("postgres.connectTimeoutSeconds", 5, 1...120)
        postgres.statementTimeoutMilliseconds = try int("postgres.statementTimeoutMilliseconds", 15_000, 0...3_600_000)
        postgres.tcpUserTimeoutMilliseconds = try int("postgres.tcpUserTimeoutMilliseconds", 10_000, 1000...600_000)
        if let mode = optional("postgres.tls.mode") {
            let modes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
            guard modes.contains(mode) else {
                throw ConfigurationError(key: "postgres.tls.mode", reason: "must be one of \(modes.joined(separator: ", "))")
            }
            postgres.tlsMode = mode
        }
        postgres.tlsCACertificatePath = optional("postgres.tls.caCertificate")

        let defaults = ContractNames()
        names.eventsExchange = string("topology.eventsExchange", defaults.eventsExchange)
        names.eventsQueue = string("topology.eventsQueue", defaults.eventsQueue)
        names.deadLetterExchange = string("topology.deadLetterExchange", defaults.deadLetterExchange)
        names.deadLetterQueue = string("topology.deadLetterQueue", defaults.deadLetterQueue)
        names.rpcQueue = string("topology.rpcQueue", defaults.rpcQueue)
        names.inventoryRPCQueue = string("topology.inventoryRpcQueue", defaults.inventoryRPCQueue)
        eventsDeliveryLimit = try int("topology.eventsDeliveryLimit", 20, 1...1000)
        rpcRequestTTLMilliseconds = try int("topology.rpcRequestTtlMilliseconds", 30_000, 100...3_600_000)
        ingestionPrefetch = try int("ingestion.prefetch", 1000, 2...10000)
        maxBodyBytes = try int("ingestion.maxBodyBytes", 256 * 1024, 1024...16 * 1024 * 1024)
        // Held events take at most prefetch × maxBodyBytes (+ the oversized budget): keep that bounded.
        guard ingestionPrefetch * maxBodyBytes <= 1 << 30 else {
            throw ConfigurationError(key: "ingestion.maxBodyBytes", reason: "times ingestion.prefetch must be at most 1 GiB")
        }
        oversizedBudgetBytes = try int("ingestion.oversizedBudgetBytes", 16 * 1024 * 1024, 0...256 * 1024 * 1024)
        timestampWindow.allowedSkewSeconds = try int("ingestion.maxClockSkewSeconds", 300, 0...86_400)
        rpcPrefetch = try int("rpc.prefetch", 64, 1...1000)
        inventory.watchers = config.stringArray(forKey: "inventory.watchers", default: []).filter { !$0.isEmpty }
        inventory.lowStockThreshold = try int("inventory.lowStockThreshold", 10, 0...1_000_000_000)
        for entry in config.stringArray(forKey: "inventory.lowStockOverrides", default: []) where !entry.isEmpty {
            let parts = entry.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let threshold = Int(parts[1]), threshold >= 0, !parts[0].isEmpty else {
                throw ConfigurationError(key: "inventory.lowStockOverrides", reason: "entries must look like product=threshold")
            }
            inventory.lowStockOverrides[String(parts[0])] = threshold
        }
        reconcileInterval = .seconds(try int("inventory.reconcileIntervalSeconds", 0, 0...86_400))
        reconcilePageSize = try int("inventory.reconcilePageSize", 100, 1...1000)
        inventoryRPCTimeout = .milliseconds(try int("inventory.rpcTimeoutMilliseconds", 2000, 10...60_000))
        outboxBatchSize = try int("outbox.batchSize", 500, 1...10_000)
        outboxLease = .seconds(try int("outbox.leaseSeconds", 30, 1...3600))
        outboxPollInterval = .milliseconds(try int("outbox.pollMilliseconds", 100, 10...60_000))
        func path(_ key: String, _ fallback: String) -> String {
            let value = string(key, fallback)
            return value.hasPrefix("/") ? value : "\(baseDirectory)/\(value)"
        }
        templatesDirectory = path("templates.directory", "templates")
        rulesFile = path("templates.rules", "notification-rules.json")
        shutdownTimeout = .seconds(try int("shutdown.timeoutSeconds", 8, 1...300))

        if let problem = problems.first {
            throw ConfigurationError(key: problem, reason: "has a value of the wrong type")
        }
    }
}

/// A configuration key with an unusable value. The description names the key, never the value of a secret.
struct ConfigurationError: Error, Equatable, CustomStringConvertible {
    var key: String
    var reason: String
    var description: String { "configuration key '\(key)' \(reason)" }
}

/// Records keys whose lookup failed (a provider could not convert the value): swift-configuration's
/// non-throwing getters fall back to the default in that case, and a daemon must not start on a typo.
final class ConfigProblems: AccessReporter, Sendable {
    private let keys = Mutex<[String]>([])

    func report(_ event: AccessEvent) {
        let failed = event.conversionError != nil
            || event.providerResults.contains { if case .failure = $0.result { true } else { false } }
        if failed { keys.withLock { $0.append(event.metadata.key.components.joined(separator: ".")) } }
    }

    var first: String? { keys.withLock { $0.first } }
}
