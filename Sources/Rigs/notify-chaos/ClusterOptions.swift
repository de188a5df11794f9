import AMQP
import ArgumentParser
import Foundation
import StackSupport

/// Where the cluster stack listens: what `deploy/dev/cluster test-env` and `deploy/dev/stack env` export (the make
/// targets evaluate both).
struct ClusterOptions: ParsableArguments {
    @Option(help: "The first broker node's URL.") var amqpURL = environment(
        "NOTIFY_TEST_CLUSTER_AMQP_URL", "amqp://guest:guest@127.0.0.1:5692/%2f")
    @Option(help: "The other nodes, host:port,host:port.") var amqpNodes = environment(
        "NOTIFY_TEST_CLUSTER_AMQP_NODES", "127.0.0.1:5693,127.0.0.1:5694")
    @Option(help: "The primary's maintenance database URL (slots create their database there).")
    var postgresPrimary = environment("NOTIFY_TEST_CLUSTER_POSTGRES_PRIMARY", "postgresql://postgres@127.0.0.1:55442/postgres")
    @Option(help: "Primary and replica, host:port,host:port: the daemons' multi-host URL.")
    var postgresHosts = environment("NOTIFY_TEST_CLUSTER_POSTGRES_HOSTS", "127.0.0.1:55442,127.0.0.1:55443")
    @Option(help: "The cluster script (kill-node, pg-promote, ...).") var cluster = environment(
        "NOTIFY_CLUSTER", repositoryRoot.appendingPathComponent("deploy/dev/cluster").path)
    @Option(help: "The stack's test CA; server.pem and server.key beside it serve the checker's SMTP peer.")
    var tlsCA = environment("NOTIFY_TEST_TLS_CA", repositoryRoot.appendingPathComponent(".stack/tls/ca.pem").path)
    @Option(help: "The SMTP peer's password.") var smtpPassword = environment("NOTIFY_TEST_SMTP_PASSWORD", "notify-test-password")

    var nodes: [AMQPNode] {
        get throws { try amqpNodes.split(separator: ",").map { try AMQPNode(parsing: String($0), defaultPort: 5672) } }
    }

    /// The daemons' PostgreSQL URL for `database`: every host, and only a writable one will do.
    func daemonPostgresURL(_ database: String) -> String {
        "postgresql://postgres@\(postgresHosts)/\(database)?target_session_attrs=read-write"
    }

    /// Runs the cluster script with `arguments`, its output discarded (each scenario reports its fault itself).
    @discardableResult
    func control(_ arguments: String...) -> Int32 {
        (try? runTool(cluster, arguments)) ?? -1
    }

    /// The cluster script's output for `arguments` (rabbitmqctl queries).
    func query(_ arguments: String...) -> String {
        let process = Process()
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: cluster)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return "" }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    /// Which node (1-3) leads `queue`, asked of the first node that answers.
    func leader(of queue: String) -> Int? {
        for asked in 1...3 {
            let json = query("rabbitmqctl", String(asked), "list_queues", "-q", "name", "leader", "--formatter", "json")
            guard let rows = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else { continue }
            guard let leader = rows.first(where: { $0["name"] as? String == queue })?["leader"] as? String,
                let digit = leader.dropFirst("cluster".count).first, let node = Int(String(digit))
            else { return nil }
            return node
        }
        return nil
    }

    /// Every queue whose name starts with `prefix`: its type and how many nodes hold a replica.
    func queueReplicas(prefix: String) -> [(name: String, type: String, members: Int)] {
        for asked in 1...3 {
            let json = query("rabbitmqctl", String(asked), "list_queues", "-q", "name", "type", "members", "--formatter", "json")
            guard let rows = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]] else { continue }
            return rows.compactMap { row in
                guard let name = row["name"] as? String, name.hasPrefix(prefix) else { return nil }
                return (name, row["type"] as? String ?? "?", (row["members"] as? [Any])?.count ?? 1)
            }.sorted { $0.name < $1.name }
        }
        return []
    }

    /// Starts every node that is down (after a scenario that stopped or killed one).
    func startEveryNode() {
        for node in 1...3 { control("start-node", String(node)) }
    }
}

private func environment(_ key: String, _ fallback: String) -> String { ProcessInfo.processInfo.environment[key] ?? fallback }
