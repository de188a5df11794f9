import AMQP
import Configuration
import Foundation
import Logging
import NotifyCore
import Postgres
import Synchronization

/// Everything `notifyd` reads from `Config/notifyd.json`, `NOTIFY_*` environment variables and systemd
/// credentials, by section (`Settings.swift`). Keys, defaults and meanings are listed in the table of
/// docs/configuration.md; a test keeps that table and `Config/notifyd.json` in step with the code.
///
/// Environment names are the key in upper snake case with a `NOTIFY_` prefix: `amqp.heartbeatSeconds` is
/// `NOTIFY_AMQP_HEARTBEAT_SECONDS`. Credentials win over the environment, which wins over the file.
struct DaemonConfiguration: Sendable, Equatable {
    var logLevel: Logger.Level = .info
    var amqp: AMQPConfiguration
    var database: DatabaseSettings
    var topology: TopologySettings
    var ingestion: IngestionSettings
    /// RPC requests in flight; they are answered `postgres.queryPoolSize` at a time.
    var rpcPrefetch = 64
    var auth: AuthSettings
    var send: SendSettings
    var inventory: InventorySettings
    var outbox: OutboxSettings
    var retention: RetentionSettings
    var templates: TemplateSettings
    var delivery: DeliverySettings
    var email: EmailSettings
    var twilio: TwilioSection
    var fcm: FCMSection
    var apns: APNsSection
    /// A PEM file of CA certificates the HTTP providers' servers may also be signed by, besides the system's roots
    /// (a private CA, a TLS-intercepting proxy's); nil for none.
    var providerCACertificate: String?
    var webhooks: WebhookSettings
    var http: HTTPSettings
    /// Refused commands are counted and written to the audit trail once per window, one row per caller and kind.
    var refusalWindow: Duration = .seconds(60)
    /// Graceful drain budget; systemd's `TimeoutStopSec` must be larger.
    var shutdownTimeout: Duration = .seconds(8)

    /// Reads and validates every key. Any problem, including a value of the wrong type (which the reader would
    /// otherwise silently replace with the default), is a `ConfigurationError` naming the key.
    /// - Parameter baseDirectory: relative file paths in the configuration are resolved against it (the folder of
    ///   the configuration file).
    init(config: ConfigReader, problems: ConfigProblems, baseDirectory: String = ".") throws(ConfigurationError) {
        let level = config.string(forKey: "log.level", default: logLevel.rawValue)
        guard let parsedLevel = Logger.Level(rawValue: level) else {
            throw ConfigurationError(key: "log.level", reason: "'\(level)' is not a log level")
        }
        logLevel = parsedLevel
        amqp = try AMQPConfiguration(config: config)
        database = try DatabaseSettings(config: config)
        topology = try TopologySettings(config: config)
        ingestion = try IngestionSettings(config: config)
        rpcPrefetch = try config.int("rpc.prefetch", rpcPrefetch, 1...1000)
        auth = try AuthSettings(config: config)
        send = try SendSettings(config: config)
        inventory = try InventorySettings(config: config)
        outbox = try OutboxSettings(config: config)
        retention = try RetentionSettings(config: config)
        templates = TemplateSettings(config: config, baseDirectory: baseDirectory)
        delivery = try DeliverySettings(config: config)
        email = try EmailSettings(config: config)
        http = try HTTPSettings(config: config)
        twilio = try TwilioSection(config: config, receiptBaseURL: http.receiptBaseURL)
        fcm = try FCMSection(config: config)
        apns = try APNsSection(config: config)
        providerCACertificate = config.optionalString("providers.caCertificate")
        if let path = providerCACertificate, !FileManager.default.isReadableFile(atPath: path) {
            throw ConfigurationError(key: "providers.caCertificate", reason: "names a file that cannot be read")
        }
        webhooks = try WebhookSettings(config: config)
        refusalWindow = .seconds(try config.int("audit.refusalWindowSeconds", Int(refusalWindow.components.seconds), 1...3_600))
        shutdownTimeout = .seconds(try config.int("shutdown.timeoutSeconds", Int(shutdownTimeout.components.seconds), 1...300))
        if let problem = problems.first {
            throw ConfigurationError(key: problem, reason: "has a value of the wrong type")
        }
    }

    /// Names from the contract, as configured.
    var names: ContractNames { topology.names }

    /// Everything the daemon declares: the contract's topology and the delivery pipeline's lanes and tiers.
    var declaredTopology: AMQPTopology { topology.declared.merging(.delivery(names, retry: delivery.retry)) }
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
        let failed =
            event.conversionError != nil
            || event.providerResults.contains { if case .failure = $0.result { true } else { false } }
        if failed { keys.withLock { $0.append(event.metadata.key.components.joined(separator: ".")) } }
    }

    var first: String? { keys.withLock { $0.first } }
}
