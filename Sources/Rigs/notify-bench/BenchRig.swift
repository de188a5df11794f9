import AMQP
import Foundation
import Logging
import Postgres
import StackSupport

/// What the service benchmarks run on: a slot of the stack of their own, a release `notifyd` on it, a pool on its
/// database, and a publisher with confirms.
final class BenchRig {
    let logger: Logger
    let slot: IsolatedStack
    let db: PGPool
    let amqp: AMQPConfiguration
    let publisher: AMQPConnection
    private(set) var daemon: DaemonProcess
    /// The highest peak RSS of the daemons stopped so far.
    private var stoppedPeakRSS = 0.0

    /// `NOTIFY_*` settings of the daemons this rig starts, on top of the slot's.
    let environment: [String: String]

    init(_ stack: StackOptions, environment: [String: String] = [:]) async throws {
        self.environment = environment
        var logger = Logger(label: "notify-bench")
        logger.logLevel = .warning
        self.logger = logger
        slot = try await IsolatedStack(prefix: "bench", amqpURL: stack.amqpURL, postgresURL: stack.postgresURL, logger: logger)
        daemon = try await Self.startDaemon(slot, environment)
        db = try slot.database(logger: logger)
        var amqp = try AMQPConfiguration(url: stack.amqpURL)
        amqp.connectionName = "notify-bench"
        self.amqp = amqp
        publisher = AMQPConnection(configuration: amqp, confirmMode: true, logger: logger)
        try await publisher.connect()
    }

    deinit { daemon.stop() }

    /// A service key with `scopes`, issued by the slot's admin credential (`CreateServiceKey`).
    func serviceKey(scopes: [String]) async throws -> String {
        let connection = AMQPConnection(configuration: amqp, confirmMode: false, logger: logger)
        try await connection.connect()
        let body = try JSONSerialization.data(withJSONObject: ["name": "notify-bench", "scopes": scopes])
        let reply: AMQPDelivery
        do {
            reply = try await AMQPRPCClient(connection: connection).call(
                queue: slot.rpcQueue, type: "CreateServiceKey", body: Array(body), headers: ["x-api-key": .string(slot.adminKey)])
        } catch {
            await connection.close()
            throw error
        }
        await connection.close()
        guard reply.properties.headers["status"] == .int(201),
            let key = (try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])?["apiKey"] as? String
        else { throw SupportFailure("CreateServiceKey failed") }
        return key
    }

    /// A product's key (`CreateProduct` by the slot's admin credential), for the send API.
    func productKey() async throws -> String {
        let connection = AMQPConnection(configuration: amqp, confirmMode: false, logger: logger)
        try await connection.connect()
        defer { Task { await connection.close() } }
        let body = try JSONSerialization.data(withJSONObject: ["product": ["name": "notify-bench", "active": true]])
        let reply = try await AMQPRPCClient(connection: connection).call(
            queue: slot.rpcQueue, type: "CreateProduct", body: Array(body), headers: ["x-api-key": .string(slot.adminKey)])
        guard reply.properties.headers["status"] == .int(201),
            let product = (try JSONSerialization.jsonObject(with: Data(reply.body)) as? [String: Any])?["product"] as? [String: Any],
            let key = product["apiKey"] as? String
        else { throw SupportFailure("CreateProduct failed") }
        return key
    }

    /// The daemon's own capacity: stops it, lets `publishBacklog` fill its queue, starts a fresh daemon and times
    /// it until `storedAfter` events are stored and the queue is empty. Returns `count` over that time.
    func backlogDrainRate(_ count: Int, storedAfter total: Int, publishBacklog: () async throws -> Void) async throws -> Double {
        stopDaemon()
        try await publishBacklog()
        daemon = try await Self.startDaemon(slot, environment)
        let started = ContinuousClock.now
        try await EventLoad.waitUntilStored(total, publisher: publisher, queue: slot.eventsQueue, db: db)
        return Double(count) / (ContinuousClock.now - started).seconds
    }

    /// The highest peak RSS of every daemon this rig ran, in MB.
    var peakRSSMegabytes: Double { max(stoppedPeakRSS, daemon.peakRSSMegabytes) }

    func tearDown() async {
        stopDaemon()
        for queue in slot.queues { try? await publisher.deleteQueue(queue) }
        await publisher.close()
        await db.close()
        await slot.tearDown()
    }

    /// Stops the daemon and starts a fresh one (after the test filled its queues), with `overrides` on top of the
    /// rig's settings.
    func restartDaemon(overriding overrides: [String: String] = [:]) async throws {
        stopDaemon()
        daemon = try await Self.startDaemon(slot, environment.merging(overrides) { $1 })
    }

    /// One more daemon on the same slot and settings (several daemons sharing the work); the caller stops it.
    func startAnotherDaemon() async throws -> DaemonProcess {
        try await Self.startDaemon(slot, environment)
    }

    func stopDaemon() {
        stoppedPeakRSS = max(stoppedPeakRSS, daemon.peakRSSMegabytes)
        daemon.stop()
    }

    /// A release `notifyd` started next to this benchmark's binary, logging at `info`; returns once it is ready.
    private static func startDaemon(_ slot: IsolatedStack, _ environment: [String: String]) async throws -> DaemonProcess {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("notifyd")
        let daemon = try DaemonProcess(
            binary: binary.path,
            environment: slot.daemonEnvironment.merging(["NOTIFY_LOG_LEVEL": "info"]) { $1 }.merging(environment) { $1 })
        guard await daemon.waitForLog("ready") else { throw SupportFailure("notifyd did not get ready: \(daemon.log)") }
        return daemon
    }
}

extension BenchRig {
    static var shippedRules: String {
        (try? String(contentsOf: repositoryRoot.appendingPathComponent("Config/notification-rules.json"), encoding: .utf8)) ?? ""
    }

    /// Settings that make a daemon read `rules` (written to a scratch folder) with the shipped templates.
    static func rulesEnvironment(_ rules: String) throws -> [String: String] {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bench-rules-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try rules.write(to: folder.appendingPathComponent("rules.json"), atomically: true, encoding: .utf8)
        return [
            "NOTIFY_TEMPLATES_RULES": folder.appendingPathComponent("rules.json").path,
            "NOTIFY_TEMPLATES_DIRECTORY": repositoryRoot.appendingPathComponent("Config/templates").path,
        ]
    }

    /// The shipped rules with every channel but in-app removed: ingestion as it was before deliveries left the
    /// building, the figure earlier releases are compared on.
    static var inAppOnlyRules: String { shippedRules.replacingOccurrences(of: #"["in-app", "email"]"#, with: #"["in-app"]"#) }
}

extension DaemonProcess {
    /// VmHWM: the resident set's high-water mark since the process started, in MB.
    var peakRSSMegabytes: Double { Double(peakResidentBytes ?? -1) / 1024 / 1024 }
}
