import AMQP
import Foundation
import Logging
import Postgres
import StackSupport

/// What one scenario runs on: a slot of its own on the cluster stack (database on the primary, names on the
/// broker), its own SMTP peer, recipients with addresses, a quorum queue that captures OutOfStock as a consuming
/// service would, and several release `notifyd` processes sharing the work.
///
/// A fault task and the load share it; the daemons (the only state that changes) are behind a lock.
final class ChaosRig: @unchecked Sendable {
    static let users = 200

    let options: ClusterOptions
    let logger: Logger
    let slot: IsolatedStack
    let smtp: SMTPPeer
    /// The slot's database through every host (`target_session_attrs=read-write`): it follows a promotion.
    let db: PGPool
    /// The checker's own broker connection (declares the capture queue, drains it at the end).
    let client: AMQPConnection
    /// Users are `<tag>-<n>`, products `<tag>-p<n>`, message ids `<tag>-e<n>`.
    var tag: String { "ch-\(slot.id)" }
    var outOfStockQueue: String { "\(slot.prefix).\(slot.id).out-of-stock" }
    private let lock = NSLock()
    private var running: [DaemonProcess] = []
    var daemons: [DaemonProcess] { lock.withLock { running } }
    /// Each daemon's settings, so a killed one is started again as it was.
    private var settings: [[String: String]] = []
    /// The proxy in front of daemon 0's first node, when the scenario cuts that daemon off.
    let proxy: TCPProxy?
    private var stoppedPeakRSS = 0.0

    /// `lastDaemonEnvironment` is added to the last daemon's settings alone (a soak compares one setting that way).
    init(_ options: ClusterOptions, daemons count: Int, proxyFirstDaemon: Bool = false, lastDaemonEnvironment: [String: String] = [:])
        async throws
    {
        self.options = options
        var logger = Logger(label: "notify-chaos")
        logger.logLevel = .error
        self.logger = logger
        slot = try await IsolatedStack(prefix: "chaos", amqpURL: options.amqpURL, postgresURL: options.postgresPrimary, logger: logger)
        smtp = try SMTPPeer(
            certificateDirectory: URL(fileURLWithPath: options.tlsCA).deletingLastPathComponent(), password: options.smtpPassword)
        db = PGPool(configuration: try PGConfiguration(url: options.daemonPostgresURL(slot.database)), logger: logger)
        var amqp = try AMQPConfiguration(url: options.amqpURL)
        amqp.alternateNodes = try options.nodes
        amqp.connectionName = "notify-chaos"
        amqp.heartbeat = .seconds(2)
        client = AMQPConnection(configuration: amqp, confirmMode: false, logger: logger)
        try await client.connect()
        let firstPort = amqp.endpoint.port
        proxy = proxyFirstDaemon ? try TCPProxy(targetPort: firstPort) : nil

        let common = slot.daemonEnvironment.merging([
            "NOTIFY_AMQP_NODES": options.amqpNodes, "NOTIFY_AMQP_HEARTBEAT_SECONDS": "2", "NOTIFY_TOPOLOGY_RPC_QUEUE_TYPE": "quorum",
            "NOTIFY_POSTGRES_URL": options.daemonPostgresURL(slot.database), "NOTIFY_LOG_LEVEL": "info",
            "NOTIFY_EMAIL_HOST": "127.0.0.1", "NOTIFY_EMAIL_PORT": String(smtp.port), "NOTIFY_EMAIL_TLS": "starttls",
            "NOTIFY_EMAIL_SERVER_NAME": "localhost", "NOTIFY_EMAIL_CA_CERTIFICATE": options.tlsCA,
            "NOTIFY_EMAIL_USERNAME": "notify", "NOTIFY_EMAIL_PASSWORD": options.smtpPassword,
            "NOTIFY_EMAIL_FROM": "notifications@flowmart.example", "NOTIFY_EMAIL_FROM_NAME": "FlowMart",
            // The load sends every user many receipts a minute: the per-recipient cap and the provider's pace
            // would turn them into scheduled sends, which is not what is judged here.
            "NOTIFY_DELIVERY_RECIPIENT_LIMIT_PER_HOUR": "0", "NOTIFY_EMAIL_RATE_PER_SECOND": "5000", "NOTIFY_EMAIL_RATE_BURST": "500",
        ]) { $1 }
        for index in 0..<count {
            var environment = common
            environment["NOTIFY_HTTP_PORT"] = String(try freeLoopbackPort())
            if index == 0, let proxy {
                environment["NOTIFY_AMQP_URL"] = options.amqpURL.replacingOccurrences(of: ":\(firstPort)/", with: ":\(proxy.port)/")
            }
            if index == count - 1 { environment.merge(lastDaemonEnvironment) { $1 } }
            settings.append(environment)
        }
        // One at a time, each ready before the next: the first declares the topology and migrates.
        for index in 0..<count {
            let daemon = try await Self.start(settings[index])
            lock.withLock { running.append(daemon) }
        }
        try await client.declare(
            AMQPTopology(
                exchanges: [.init(name: slot.exchange, type: "topic")],
                queues: [.init(name: outOfStockQueue, arguments: ["x-queue-type": "quorum"])],
                bindings: [.init(queue: outOfStockQueue, exchange: slot.exchange, routingKey: "inventory.out-of-stock")]))
        let tag = tag
        try await db.withConnection { db in
            _ = try db.query(
                """
                INSERT INTO recipients (user_id, email)
                SELECT \(tag) || '-' || i, \(tag) || '-' || i || '@example.com' FROM generate_series(0, \(Self.users - 1)) i
                """)
        }
    }

    /// SIGKILLs daemon `index` (a crash: nothing is finished, nothing is handed back).
    func kill(_ index: Int) async {
        let daemon = daemons[index]
        lock.withLock { stoppedPeakRSS = max(stoppedPeakRSS, daemon.peakRSSMegabytes) }
        daemon.signal(SIGKILL)
        _ = await daemon.waitForExit(timeout: .seconds(10))
    }

    /// Starts daemon `index` again with its settings, as systemd's `Restart=` would.
    func restart(_ index: Int) async throws {
        let daemon = try await Self.start(settings[index])
        lock.withLock { running[index] = daemon }
    }

    /// The SMTP server gone for `seconds`, then back on the same port. A wait cut short still starts it again.
    func smtpOutage(seconds: Int) async throws {
        smtp.stop()
        try? await Task.sleep(for: .seconds(seconds))
        try smtp.start()
    }

    /// Daemon 0's broker connection black-holed for `seconds` (a rig made with `proxyFirstDaemon`).
    func blackHole(seconds: Int) async {
        proxy?.blackHole()
        try? await Task.sleep(for: .seconds(seconds))
        proxy?.restore()
    }

    /// Daemon `index`'s HTTP port (`/metrics`).
    func httpPort(_ index: Int) -> Int { Int(settings[index]["NOTIFY_HTTP_PORT"] ?? "") ?? 0 }

    var peakRSSMegabytes: Double { daemons.map(\.peakRSSMegabytes).reduce(lock.withLock { stoppedPeakRSS }, max) }

    func tearDown() async {
        for daemon in daemons { daemon.stop() }
        proxy?.stop()
        smtp.stop()
        for queue in slot.queues + [outOfStockQueue] { try? await client.deleteQueue(queue) }
        await client.close()
        await db.close()
        await slot.tearDown()
    }

    /// A release `notifyd` (beside this binary); returns once it is ready.
    private static func start(_ environment: [String: String]) async throws -> DaemonProcess {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("notifyd")
        let daemon = try DaemonProcess(binary: binary.path, environment: environment)
        guard await daemon.waitForLog("ready", timeout: .seconds(90)) else {
            throw SupportFailure("notifyd did not get ready: \(daemon.log.suffix(2000))")
        }
        return daemon
    }
}

extension DaemonProcess {
    /// VmHWM: the resident set's high-water mark since the process started, in MB.
    var peakRSSMegabytes: Double { Double(peakResidentBytes ?? 0) / 1024 / 1024 }

    /// VmRSS: the resident set now, in MB (0 once it has exited).
    var residentMegabytes: Double {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
            let kilobytes = Double(line.split(separator: " ").dropFirst().first ?? "")
        else { return 0 }
        return kilobytes / 1024
    }
}
