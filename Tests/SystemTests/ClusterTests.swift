import AMQP
import Foundation
import Logging
import Postgres
import StackSupport
import Testing

/// Several daemons on the cluster stack (`deploy/dev/cluster`: three RabbitMQ nodes, a PostgreSQL primary with a
/// streaming replica), judged like RabbitMQ's Jepsen tests: for every event the broker confirmed, one notification
/// and at least one email (lost = 0), never two notifications (duplicated = 0), and two emails with the same
/// Message-ID only for sends in flight at a kill (counted). `make test` starts the cluster; without it this suite
/// is skipped.
@Suite("Cluster: daemons and broker nodes killed mid-stream", .serialized, .needsStack, .needsCluster)
struct ClusterTests {
    static let environment = ProcessInfo.processInfo.environment
    static let events = 2_000
    static let users = 40

    @Test(
        "three daemons, 2,000 confirmed payments with email and in-app; one daemon SIGKILLed and the node holding the queues' leaders killed mid-stream: lost 0, duplicated 0"
    )
    func killDaemonAndNode() async throws {
        let cluster = try #require(Self.environment["NOTIFY_CLUSTER"])
        let amqpURL = try #require(Self.environment["NOTIFY_TEST_CLUSTER_AMQP_URL"])
        let nodes = try #require(Self.environment["NOTIFY_TEST_CLUSTER_AMQP_NODES"])
        let hosts = try #require(Self.environment["NOTIFY_TEST_CLUSTER_POSTGRES_HOSTS"])
        var logger = Logger(label: "cluster-test")
        logger.logLevel = .error
        let slot = try await IsolatedStack(
            prefix: "cluster", amqpURL: amqpURL,
            postgresURL: try #require(Self.environment["NOTIFY_TEST_CLUSTER_POSTGRES_PRIMARY"]), logger: logger)
        let environment = slot.daemonEnvironment.merging(EmailDeliveryTests.smtpEnvironment) { $1 }.merging([
            "NOTIFY_AMQP_NODES": nodes, "NOTIFY_AMQP_HEARTBEAT_SECONDS": "2", "NOTIFY_TOPOLOGY_RPC_QUEUE_TYPE": "quorum",
            "NOTIFY_POSTGRES_URL": "postgresql://postgres@\(hosts)/\(slot.database)?target_session_attrs=read-write",
            "NOTIFY_DELIVERY_RECIPIENT_LIMIT_PER_HOUR": "0", "NOTIFY_EMAIL_RATE_PER_SECOND": "2000", "NOTIFY_EMAIL_RATE_BURST": "200",
        ]) { $1 }
        var daemons = [try DaemonProcess(environment: environment)]
        guard await daemons[0].waitForLog("ready", timeout: .seconds(60)) else { throw SupportFailure("notifyd: \(daemons[0].log)") }
        for _ in 1..<3 { daemons.append(try DaemonProcess(environment: environment)) }
        for daemon in daemons.dropFirst() where !(await daemon.waitForLog("ready", timeout: .seconds(60))) {
            throw SupportFailure("notifyd: \(daemon.log)")
        }
        let db = try slot.database(logger: logger)
        defer {
            for daemon in daemons { daemon.stop() }
            _ = try? runTool(cluster, "start-node", "1")
            Task {
                await db.close()
                await slot.tearDown()
            }
        }
        let tag = "cl-\(slot.id)"
        try await db.withConnection { db in
            _ = try db.query(
                """
                INSERT INTO recipients (user_id, email) SELECT \(tag) || '-' || i, \(tag) || '-' || i || '@example.com' FROM generate_series(0, \(Self.users - 1)) i
                """)
        }

        // The payment service: confirms, a reconnect to the next node when its node goes, and every unconfirmed
        // batch sent again (the same message ids: the daemons' inbox absorbs a copy the broker did take).
        var configuration = try AMQPConfiguration(url: amqpURL)
        configuration.alternateNodes = try nodes.split(separator: ",").map { try AMQPNode(parsing: String($0), defaultPort: 5672) }
        configuration.connectionName = "cluster-publisher"
        configuration.heartbeat = .seconds(2)
        var publisherLogger = logger
        publisherLogger.logLevel = .info
        let publisher = AMQPConnection(configuration: configuration, confirmMode: true, logger: publisherLogger)
        try await publisher.connect()
        var confirmed = Set<String>()
        for start in stride(from: 0, to: Self.events, by: 50) {
            if start == 600 { daemons[1].signal(SIGKILL) }
            if start == 1_000 { #expect(try runTool(cluster, "kill-node", "1") == 0) }
            let batch = (start..<start + 50).map { index in
                AMQPOutgoingMessage(
                    exchange: slot.exchange, routingKey: "payment.processed",
                    body: Payments.confirmed(user: "\(tag)-\(index % Self.users)", index: index),
                    properties: AMQPProperties(
                        contentType: "application/json", headers: ["version": "1.0.0"], persistent: true,
                        messageID: "\(tag)-event-\(index)", type: "PaymentProcessed"))
            }
            let deadline = ContinuousClock.now + .seconds(60)
            while ContinuousClock.now < deadline {
                // What did not go through is shown, so a run that struggles says why.
                let outcomes: [AMQPPublishOutcome]
                do {
                    outcomes = try await publisher.publish(batch, timeout: .seconds(10))
                } catch {
                    print("publish failed: \(error)")
                    outcomes = []
                }
                if !outcomes.allSatisfy({ $0 == .confirmed }) { print("publish outcomes: \(Set(outcomes.map { "\($0)" }))") }
                if outcomes.count == batch.count, outcomes.allSatisfy({ $0 == .confirmed }) {
                    confirmed.formUnion(batch.compactMap(\.properties.messageID))
                    break
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(confirmed.count == Self.events, "every batch confirmed in the end")

        // The checker: notifications by event, then emails by Message-ID once every delivery has settled.
        let deadline = ContinuousClock.now + .seconds(180)
        var (stored, settled) = (0, false)
        while ContinuousClock.now < deadline {
            (stored, settled) = try await db.withConnection { db in
                let row = try db.query(
                    """
                    SELECT (SELECT count(DISTINCT source_event_key) FROM notifications WHERE user_id LIKE \(tag + "-%")),
                           NOT EXISTS (SELECT 1 FROM deliveries WHERE status IN ('queued', 'sending', 'failed'))
                    """)[0]
                return (try row.decode(0, as: Int.self), try row.decode(1, as: Bool.self))
            }
            if stored == Self.events, settled { break }
            try await Task.sleep(for: .seconds(1))
        }
        let (keys, duplicated) = try await db.withConnection { db in
            let keys = Set(
                try db.query("SELECT source_event_key FROM notifications WHERE user_id LIKE \(tag + "-%")").map {
                    try $0.decode(0, as: String.self)
                })
            let duplicated = try db.query(
                """
                SELECT count(*) FROM (SELECT 1 FROM notifications WHERE user_id LIKE \(tag + "-%") GROUP BY source_event_key HAVING count(*) > 1) d
                """)[0].decode(0, as: Int.self)
            return (keys, duplicated)
        }
        let lost = confirmed.subtracting(keys).count
        let sent = try await db.withConnection { db in
            try db.query("SELECT id::text FROM deliveries WHERE channel = 'email' AND status = 'sent' AND user_id LIKE \(tag + "-%")")
                .map { try $0.decode(0, as: String.self) }
        }
        let messageIDs = Maildir.messages(to: nil, containing: "To: \(tag)-").compactMap { $0.header("Message-ID") }
        let byID = Dictionary(messageIDs.map { ($0, 1) }, uniquingKeysWith: +)
        let unsent = sent.filter { byID["<\($0)@flowmart.example>"] == nil }.count
        let duplicateSends = byID.values.reduce(0) { $0 + $1 - 1 }
        print("cluster checker: lost=\(lost) duplicated=\(duplicated) duplicate_sends=\(duplicateSends) emails_missing=\(unsent)")
        #expect(
            lost == 0 && duplicated == 0,
            "lost=\(lost) duplicated=\(duplicated)\n\(daemons.map { String($0.log.suffix(1500)) }.joined(separator: "\n---\n"))")
        #expect(
            sent.count == Self.events && unsent == 0,
            "every notification's email sent and received: \(sent.count) sent, \(unsent) not received")
        #expect(duplicateSends <= 100, "duplicate sends are those in flight at a kill: \(duplicateSends)")
        // Quorum queues left behind would cost every node of the cluster in later runs. Deleted with every member
        // up: with one down, each delete waits on it.
        for daemon in daemons { daemon.stop() }
        #expect(try runTool(cluster, "start-node", "1") == 0)
        for queue in slot.queues { try? await publisher.deleteQueue(queue) }
        await publisher.close()
    }
}
