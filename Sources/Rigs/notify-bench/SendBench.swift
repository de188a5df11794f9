import AMQP
import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NotifyStore
import Postgres
import StackSupport

/// The send API under load: `SendNotification` from concurrent clients, each waiting for its 202 before the next,
/// over the RPC queue and over HTTP, against a release `notifyd` whose email goes to `smtp-sink` (so every accepted
/// send is also delivered meanwhile, as in production). A 202 means the request, notification, delivery, outbox job
/// and audit row are committed; the benchmark checks that every one it counted is in the database. The peer, in
/// the same run: `deploy/dev/fakes/send_service_peer.py`, the same request over HTTP to a straightforward Python
/// service (validate, hash the key, insert with an audit row, publish with confirms). `http-template` is the same
/// send naming a published template (with an email part and a Spanish variant) instead of carrying its texts, so
/// the cost of rendering at acceptance shows against `http`.
struct SendBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "send", abstract: "SendNotification accepted per second and the 202's latency.")
    @OptionGroup var stack: StackOptions
    @Option(help: "Concurrent clients, one request in flight each.") var clients = 8
    @Option(help: "Seconds of each timed run.") var seconds = 10.0
    @Option(help: "Port for smtp-sink.") var sinkPort = 2529
    @OptionGroup var daemon: DaemonOverrides

    func run() async throws {
        let sink = try SMTPSink(port: sinkPort)
        defer { sink.stop() }
        let httpPort = try freeLoopbackPort()
        let rig = try await BenchRig(
            stack,
            environment: [
                "NOTIFY_EMAIL_HOST": "127.0.0.1", "NOTIFY_EMAIL_PORT": String(sinkPort), "NOTIFY_EMAIL_TLS": "none",
                "NOTIFY_EMAIL_FROM": "notifications@flowmart.example", "NOTIFY_HTTP_PORT": String(httpPort),
                "NOTIFY_SEND_QUOTA_PER_SECOND": "0",
            ].merging(try daemon.environment) { $1 })
        let key = try await rig.productKey()
        try await publishTemplate(port: httpPort, key: key)
        let peerKey = "peer-" + UUID().uuidString
        let peer = try ScriptServer(
            script: "send_service_peer.py", arguments: ["--postgres", rig.slot.databaseURL, "--amqp", stack.amqpURL],
            environment: ["SEND_PEER_API_KEY": peerKey])
        var results: [(transport: String, count: Int, rate: Double, p50: Double, p99: Double)] = []
        for transport in ["rpc", "http", "http-template", "peer", "rpc", "http", "http-template", "peer"] {
            let target = transport == "peer" ? (key: peerKey, port: peer.port) : (key: key, port: httpPort)
            let run = try await timed(transport: transport, rig: rig, key: target.key, httpPort: target.port, tag: results.count)
            print(
                String(
                    format: "send over %@: %d clients, %.0f accepted/s, 202 after p50 %.2f ms, p99 %.2f ms, max %.0f ms",
                    transport, clients, run.rate, run.p50, run.p99, run.max))
            results.append((transport, run.count, run.rate, run.p50, run.p99))
        }
        let accepted = try await rig.db.withConnection { try Census.sends(on: $0) }
        let peerAccepted = try await rig.db.withConnection { db in
            try db.query("SELECT (SELECT count(*) FROM send_peer.requests), (SELECT count(*) FROM send_peer.audit)")[0].decode(
                Int.self, Int.self)
        }
        print(
            "in the database: \(accepted.requests) requests, \(accepted.audited) send.accepted audit rows, \(accepted.deliveries) deliveries; "
                + "the peer's: \(peerAccepted.0) requests, \(peerAccepted.1) audit rows")
        try await rig.publisher.deleteQueue("send_peer.jobs")
        let counted = results.filter { $0.transport != "peer" }.reduce(0) { $0 + $1.count }
        let peerCounted = results.filter { $0.transport == "peer" }.reduce(0) { $0 + $1.count }
        guard accepted == (counted, counted, counted), peerAccepted == (peerCounted, peerCounted) else {
            throw SupportFailure("202s answered (notifyd \(counted), the peer \(peerCounted)) are not what the databases hold")
        }
        let rss = rig.peakRSSMegabytes
        await rig.tearDown()
        for transport in ["rpc", "http", "http-template", "peer"] {
            let best = results.filter { $0.transport == transport }.max { $0.rate < $1.rate }!
            print(String(format: "RESULT send_%@_accepted %.0f requests/s", transport, best.rate))
            print(String(format: "RESULT send_%@_p99 %.2f ms", transport, best.p99))
        }
        let peerBest = results.filter { $0.transport == "peer" }.map(\.rate).max() ?? 0
        let httpBest = results.filter { $0.transport == "http" }.map(\.rate).max() ?? 0
        print(String(format: "RESULT send_http_vs_peer %.2f x", peerBest > 0 ? httpBest / peerBest : 0))
        let templateBest = results.filter { $0.transport == "http-template" }.map(\.rate).max() ?? 0
        print(String(format: "RESULT send_http_template_vs_content %.2f x", httpBest > 0 ? templateBest / httpBest : 0))
        print(String(format: "RESULT send_notifyd_peak_rss %.1f MB", rss))
    }

    /// The template `http-template` sends: title, body, an email subject and HTML part, and a Spanish variant.
    private func publishTemplate(port: Int, key: String) async throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/v1/templates/order-shipped")
        request.method = .PUT
        request.headers.add(name: "x-api-key", value: key)
        request.body = .bytes(
            ByteBuffer(
                string: """
                    {"template":{"title":"Order {{orderId}} shipped","body":"Hi {{name}}, order {{orderId}} is on its way.",\
                    "email":{"subject":"Your order {{orderId}}","html":"<p>Hi {{name}}, order <b>{{orderId}}</b> is on its way.</p>"},\
                    "locales":{"es":{"title":"Pedido {{orderId}} enviado","body":"Hola {{name}}, tu pedido {{orderId}} va en camino."}}}}
                    """))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        guard response.status.code == 201 else { throw SupportFailure("PublishTemplate answered \(response.status.code)") }
    }

    /// `clients` loops for `seconds`, each sending and waiting for its 202; the rate and the latencies (ms).
    private func timed(transport: String, rig: BenchRig, key: String, httpPort: Int, tag: Int) async throws -> (
        count: Int, rate: Double, p50: Double, p99: Double, max: Double
    ) {
        let (amqp, logger, queue, seconds) = (rig.amqp, rig.logger, rig.slot.rpcQueue, seconds)
        let started = ContinuousClock.now
        let samples = try await withThrowingTaskGroup(of: [Double].self) { group in
            for client in 0..<clients {
                group.addTask {
                    var samples: [Double] = []
                    let send = try await Sender(
                        transport: transport, amqp: amqp, logger: logger, queue: queue, key: key, httpPort: httpPort)
                    let deadline = started + .seconds(seconds)
                    var index = 0
                    while ContinuousClock.now < deadline {
                        let body = Array(
                            (transport == "http-template"
                                ? """
                                {"channel":"email","messageCategory":"ORDER_CONFIRMATION",\
                                "recipient":{"email":"r\(tag)-\(client)-\(index)@example.com","locale":"es-MX"},\
                                "template":{"name":"order-shipped","data":{"orderId":\(index),"name":"Ana"}}}
                                """
                                : """
                                {"channel":"email","messageCategory":"ORDER_CONFIRMATION",\
                                "recipient":{"email":"r\(tag)-\(client)-\(index)@example.com"},\
                                "content":{"title":"Order \(index)","body":"Your order \(index) is on its way."}}
                                """).utf8)
                        let begun = ContinuousClock.now
                        let status = try await send(body)
                        guard status == 202 else { throw SupportFailure("SendNotification answered \(status)") }
                        samples.append((ContinuousClock.now - begun).seconds * 1000)
                        index += 1
                    }
                    await send.close()
                    return samples
                }
            }
            var all: [Double] = []
            for try await samples in group { all += samples }
            return all
        }
        let elapsed = (ContinuousClock.now - started).seconds
        let sorted = samples.sorted()
        return (sorted.count, Double(sorted.count) / elapsed, percentile(sorted, 0.5), percentile(sorted, 0.99), sorted.last ?? 0)
    }
}

/// One client's transport: an AMQP connection with a direct reply-to client, or HTTP/1.1 keep-alive through the
/// shared async-http-client (to notifyd's listener or to the peer).
private struct Sender {
    let transport: String
    let connection: AMQPConnection?
    let client: AMQPRPCClient?
    let queue: String
    let key: String
    let url: String

    init(transport: String, amqp: AMQPConfiguration, logger: Logger, queue: String, key: String, httpPort: Int) async throws {
        self.transport = transport
        self.queue = queue
        self.key = key
        url = "http://127.0.0.1:\(httpPort)/v1/notifications"
        if transport == "rpc" {
            let connection = AMQPConnection(configuration: amqp, confirmMode: false, logger: logger)
            try await connection.connect()
            self.connection = connection
            client = try await AMQPRPCClient(connection: connection)
        } else {
            (connection, client) = (nil, nil)
        }
    }

    /// Sends one request; returns the status.
    func callAsFunction(_ body: [UInt8]) async throws -> Int {
        if let client {
            let reply = try await client.call(
                queue: queue, type: "SendNotification", body: body, headers: ["x-api-key": .string(key)],
                timeout: .seconds(10))
            return reply.properties.headers["status"]?.integer ?? 0
        }
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "x-api-key", value: key)
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        _ = try await response.body.collect(upTo: 1 << 20)
        return Int(response.status.code)
    }

    func close() async { await connection?.close() }
}
