import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NotifyCore
import Postgres
import Providers
import StackSupport
import Synchronization

/// Push throughput against a local FCM peer (Hummingbird in this process, answering the token exchange and
/// `messages:send` as FCM does, without checks: the tests check the protocol against the contract fake). The
/// reference is the FCM client alone (`FCMProvider`, the daemon's own code) sending the same number of pushes
/// straight to the peer; the end-to-end run publishes `PaymentProcessed` events whose rule sends in-app and
/// push, and times them until every push delivery is recorded `sent`.
struct PushBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push", abstract: "FCM client throughput and end-to-end push throughput.")

    @OptionGroup var stack: StackOptions
    @Option(help: "Pushes for the client-alone run.") var messages = 20_000
    @Option(help: "PaymentProcessed events for the end-to-end run.") var events = 30_000
    @OptionGroup var daemon: DaemonOverrides

    func run() async throws {
        let peer = try await FCMPeer.start()
        defer { peer.stop() }
        let account = try FCMPeer.serviceAccount(tokenURL: "\(peer.baseURL)/token")
        var settings = try FCMSettings(serviceAccount: Array(account.utf8))
        settings.endpoint = peer.baseURL

        let client = try await clientAlone(settings)
        print(String(format: "FCM client alone: %d pushes, %.0f pushes/s", messages, client))
        let rig = try await BenchRig(
            stack,
            environment: try BenchRig.rulesEnvironment(
                BenchRig.shippedRules.replacingOccurrences(of: #"["in-app", "email"]"#, with: #"["in-app", "push"]"#)
            ).merging(["NOTIFY_FCM_SERVICE_ACCOUNT": account, "NOTIFY_FCM_ENDPOINT": peer.baseURL]) { $1 }.merging(try daemon.environment) {
                $1
            })
        for start in stride(from: 0, to: events, by: 50_000) {
            _ = try await rig.db.withConnection { db in
                try db.copy(
                    into: "recipients", columns: ["user_id", "push_tokens"],
                    rows: (start..<min(start + 50_000, events)).map {
                        ["user-\($0)", #"[{"platform": "fcm", "token": "device-\#($0)"}]"#]
                    })
            }
        }
        let before = peer.sent
        let started = ContinuousClock.now
        try await EventLoad.publish(
            (0..<events).map { EmailBench.payment(user: "user-\($0)", index: $0, status: "confirmed") }, firstIndex: 0,
            idPrefix: "push-", routingKey: "payment.processed", type: "PaymentProcessed", exchange: rig.slot.exchange, lanes: 4,
            publisher: rig.publisher)
        try await EmailBench.waitForSent(events, db: rig.db, timeout: .seconds(600))
        let rate = Double(events) / (ContinuousClock.now - started).seconds
        let rss = rig.peakRSSMegabytes
        await rig.tearDown()
        guard peer.sent - before == events else { throw SupportFailure("the peer took \(peer.sent - before) pushes for \(events) events") }
        print(
            String(
                format:
                    "end to end: %d PaymentProcessed → push accepted and recorded sent, %.0f pushes/s (%.0f %% of the client alone), peak RSS %.1f MB",
                events, rate, rate / client * 100, rss))
        for line in [
            String(format: "RESULT fcm_client_throughput %.0f pushes/s", client),
            String(format: "RESULT push_end_to_end %.0f pushes/s", rate),
            String(format: "RESULT push_end_to_end_vs_client %.1f %%", rate / client * 100),
            String(format: "RESULT push_end_to_end_peak_rss %.1f MB", rss),
        ] { print(line) }
    }

    /// The provider on its own: batches of 256 (the daemon's batch), four at once (its workers).
    private func clientAlone(_ settings: FCMSettings) async throws -> Double {
        let transport = HTTPTransport()
        let provider = try await FCMProvider(settings: settings, transport: transport) { _, _ in }
        let batches = stride(from: 0, to: messages, by: 256).map { start in
            (start..<min(start + 256, messages)).map { index in
                ClaimedDelivery(
                    job: DeliveryJob(
                        deliveryID: "d-\(index)", notificationID: "n-\(index)", userID: "u-\(index)", channel: .push, lane: .normal,
                        transactional: true, content: MessageContent(subject: "Payment received", text: "Thank you", html: nil)),
                    address: #"[{"platform": "fcm", "token": "device-\#(index)"}]"#, attempt: 1)
            }
        }
        let next = Counter()
        let started = ContinuousClock.now
        let sent = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var sent = 0
                    while true {
                        let index = next.value.add(1, ordering: .relaxed).oldValue
                        guard index < batches.count else { return sent }
                        sent += await provider.send(batches[index]).count { if case .sent = $0 { true } else { false } }
                    }
                }
            }
            return await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - started
        await transport.shutdown()
        guard sent == messages else { throw SupportFailure("the peer took \(sent) of \(messages) pushes") }
        return Double(messages) / elapsed.seconds
    }
}

/// The benchmark's FCM: Hummingbird on a loopback port, a token for every exchange, a name for every message.
final class FCMPeer: Sendable {
    let port: Int
    private let counter: Counter
    private let task: Task<Void, any Error>

    private init(port: Int, counter: Counter, task: Task<Void, any Error>) {
        self.port = port
        self.counter = counter
        self.task = task
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }
    var sent: Int { counter.value.load(ordering: .relaxed) }

    static func start() async throws -> FCMPeer {
        let port = try freeLoopbackPort()
        let counter = Counter()
        let router = Router()
        router.post("/token") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(
                        string: #"{"access_token": "ya29.bench", "expires_in": 3599, "token_type": "Bearer"}"#)))
        }
        router.post("/v1/projects/:project/messages:send") { request, _ in
            var request = request
            _ = try await request.collectBody(upTo: 64 * 1024)
            let number = counter.value.add(1, ordering: .relaxed).newValue
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody(
                    byteBuffer: ByteBuffer(
                        string: #"{"name": "projects/bench/messages/0:\#(number)"}"#)))
        }
        var logger = Logger(label: "fcm-peer")
        // Quiet: cancelling the server at the end is its normal stop.
        logger.logLevel = .critical
        let application = Application(
            router: router, configuration: ApplicationConfiguration(address: .hostname("127.0.0.1", port: port)), logger: logger)
        let task = Task { try await application.runService() }
        for _ in 0..<100 where !isListening(onLoopbackPort: port) { try await Task.sleep(for: .milliseconds(50)) }
        return FCMPeer(port: port, counter: counter, task: task)
    }

    func stop() { task.cancel() }

    /// A service account with a fresh RSA key (openssl), its token URL the peer's.
    static func serviceAccount(tokenURL: String) throws -> String {
        let key = FileManager.default.temporaryDirectory.appendingPathComponent("bench-fcm-\(UUID().uuidString.prefix(8)).pem")
        defer { try? FileManager.default.removeItem(at: key) }
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.arguments = ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key.path]
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        let account: [String: Any] = [
            "type": "service_account", "project_id": "bench", "private_key_id": "bench-1",
            "private_key": try String(contentsOf: key, encoding: .utf8), "client_email": "bench@bench.iam.gserviceaccount.com",
            "token_uri": tokenURL,
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: account), as: UTF8.self)
    }
}

/// Messages the peer took, shared with its route handlers.
private final class Counter: Sendable {
    let value = Atomic<Int>(0)
}
