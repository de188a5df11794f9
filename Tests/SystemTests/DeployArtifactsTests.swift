import AMQP
import Foundation
import Logging
import Postgres
import StackSupport
import Testing

/// What `deploy/` gives an operator, applied to the cluster stack as an operator would: the RabbitMQ definitions
/// file imported, the PostgreSQL roles script run, and a daemon started as those users, not as a superuser. A
/// queue whose arguments differ from the daemon's declaration, a permission too narrow, or a grant missing, and
/// the daemon does not get ready or the payment never becomes a notification.
@Suite("deploy/: the RabbitMQ definitions and the PostgreSQL roles run a daemon", .serialized, .needsStack, .needsCluster)
struct DeployArtifactsTests {
    static let environment = ProcessInfo.processInfo.environment

    @Test(
        "definitions imported and roles created: notifyd declares its topology and migrates as non-superusers; a payment published as payments becomes a notification; payments may not publish inventory events"
    )
    func definitionsAndRoles() async throws {
        let cluster = try #require(Self.environment["NOTIFY_CLUSTER"])
        let hosts = try #require(Self.environment["NOTIFY_TEST_CLUSTER_POSTGRES_HOSTS"])
        let primaryURL = try #require(Self.environment["NOTIFY_TEST_CLUSTER_POSTGRES_PRIMARY"])
        let primary = try #require(URLComponents(string: primaryURL))
        let firstNode = try #require(Self.environment["NOTIFY_TEST_CLUSTER_AMQP_URL"])
        let amqpURL = try #require(URLComponents(string: firstNode))
        let id = UUID().uuidString.prefix(8).lowercased()
        let database = "deploy_\(id)"
        let password = "pw-\(UUID().uuidString)"
        let definitions = repositoryRoot.appendingPathComponent("deploy/rabbitmq/definitions.json").path

        #expect(try runTool(cluster, "rabbitmqctl", "1", "import_definitions", definitions) == 0)
        for user in ["notifyd", "payments"] {
            #expect(try runTool(cluster, "rabbitmqctl", "1", "change_password", user, password) == 0)
        }
        let psql = ["-h", primary.host ?? "127.0.0.1", "-p", String(primary.port ?? 5432), "-U", "postgres", "-q"]
        #expect(
            try runTool(
                "/usr/bin/psql",
                psql + ["-v", "db=\(database)", "-f", repositoryRoot.appendingPathComponent("deploy/postgres/roles.sql").path]) == 0)
        #expect(
            try runTool(
                "/usr/bin/psql",
                psql + ["-f", repositoryRoot.appendingPathComponent("deploy/postgres/roles.sql").path, "-v", "db=\(database)"]) == 0,
            "idempotent")
        defer {
            _ = try? runTool(cluster, "rabbitmqctl", "1", "delete_vhost", "flowmart")
            _ = try? runTool("/usr/bin/psql", psql + ["-c", "DROP DATABASE IF EXISTS \(database) WITH (FORCE)"])
        }

        let node = "\(amqpURL.host ?? "127.0.0.1"):\(amqpURL.port ?? 5672)"
        let daemon = try DaemonProcess(environment: [
            "NOTIFY_AMQP_URL": "amqp://notifyd:\(password)@\(node)/flowmart",
            "NOTIFY_AMQP_NODES": try #require(Self.environment["NOTIFY_TEST_CLUSTER_AMQP_NODES"]),
            "NOTIFY_TOPOLOGY_RPC_QUEUE_TYPE": "quorum",
            "NOTIFY_POSTGRES_URL": "postgresql://notifyd@\(hosts)/\(database)?target_session_attrs=read-write",
        ])
        defer { daemon.stop() }
        #expect(await daemon.waitForLog("ready", timeout: .seconds(60)), "\(daemon.log.suffix(3000))")

        var logger = Logger(label: "deploy-test")
        logger.logLevel = .critical
        var configuration = try AMQPConfiguration(url: "amqp://payments:\(password)@\(node)/flowmart")
        configuration.connectionName = "deploy-test"
        let publisher = AMQPConnection(configuration: configuration, confirmMode: true, logger: logger)
        try await publisher.connect()
        let payment = AMQPOutgoingMessage(
            exchange: "flowmart.events", routingKey: "payment.processed", body: Payments.confirmed(user: "deploy-\(id)", index: 1),
            properties: AMQPProperties(
                contentType: "application/json", persistent: true, messageID: "deploy-\(id)", type: "PaymentProcessed"))
        #expect(try await publisher.publish([payment]) == [.confirmed])
        var forged = payment
        forged.routingKey = "inventory.adjusted"
        #expect((try? await publisher.publish([forged], timeout: .seconds(3))) != [.confirmed], "topic permissions refuse it")
        await publisher.close()

        let db = PGPool(
            configuration: try PGConfiguration(url: "postgresql://notifyd@\(hosts)/\(database)?target_session_attrs=read-write"),
            logger: logger)
        defer { Task { await db.close() } }
        var stored = 0
        for _ in 0..<100 where stored == 0 {
            stored = try await db.withConnection {
                try $0.query("SELECT count(*) FROM notifications WHERE user_id = \("deploy-\(id)")")[0].decode(0, as: Int.self)
            }
            if stored == 0 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(stored == 1)
        let superuser = try await db.withConnection {
            try $0.query("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")[0].decode(0, as: Bool.self)
        }
        #expect(superuser == false)
    }
}
