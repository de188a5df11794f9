import Foundation
import StackSupport

/// A test's own Twilio contract fake (`deploy/dev/fakes/twilio_fake.py`), and the daemon settings that send SMS
/// through it with receipts coming back to the daemon's listener.
final class TwilioFake: @unchecked Sendable {
    static let accountSID = "AC" + String(repeating: "0", count: 24) + "7e57ab12"
    /// Not a secret worth keeping: it exists only between this test's daemon and its fake.
    let authToken = "test-token-\(UUID().uuidString.prefix(8))"
    let server: FakeServer
    /// The daemon's listener port, where the fake posts status callbacks.
    let listenerPort: Int

    init(callbackDelay: Double = 0.05) throws {
        server = try FakeServer(
            script: "twilio_fake.py", arguments: ["--account-sid", Self.accountSID, "--callback-delay", String(callbackDelay)],
            environment: ["TWILIO_FAKE_AUTH_TOKEN": authToken])
        listenerPort = try freeLoopbackPort()
    }

    /// The daemon's settings for this fake: SMS through it from a fixed number, receipts to the listener.
    var environment: [String: String] {
        [
            "NOTIFY_TWILIO_BASE_URL": server.baseURL, "NOTIFY_TWILIO_ACCOUNT_SID": Self.accountSID,
            "NOTIFY_TWILIO_AUTH_TOKEN": authToken, "NOTIFY_TWILIO_FROM": "+15005550006",
            "NOTIFY_HTTP_PORT": String(listenerPort), "NOTIFY_HTTP_RECEIPT_BASE_URL": "http://127.0.0.1:\(listenerPort)",
        ]
    }

    /// Every message the fake accepted: `sid`, `to`, `body`, `statusCallback`, `at` (seconds since 1970).
    func messages() async throws -> [[String: Any]] { try await server.get("/_fake/messages") }
    /// Every callback it posted: `sid`, `status`, `answer` (the status our listener answered).
    func callbacks() async throws -> [[String: Any]] { try await server.get("/_fake/callbacks") }

    /// The next `count` requests are answered with `status` (and `Retry-After`, when given).
    func cue(status: Int, count: Int, retryAfter: Int? = nil) async throws {
        try await server.cue(status: status, count: count, retryAfter.map { ["retryAfter": $0] } ?? [:])
    }

    /// Posts one more callback for message `sid` now, signed (or not, when `tamper`); returns our listener's answer.
    func replay(sid: String, status: String, tamper: Bool = false) async throws -> Int {
        let answer = try await server.post("/_fake/replay", ["sid": sid, "status": status, "tamper": tamper])
        return (answer["answer"] as? NSNumber)?.intValue ?? -1
    }
}

/// A test's own SES v2 contract fake (`deploy/dev/fakes/ses_fake.py`, which checks SigV4 with botocore).
final class SESFake: @unchecked Sendable {
    static let accessKeyID = "AKIAFAKE7E57"
    /// Not a secret worth keeping: it exists only between this test's daemon and its fake.
    let secret = "fake-secret-\(UUID().uuidString.prefix(8))"
    let server: FakeServer

    init() throws {
        server = try FakeServer(
            script: "ses_fake.py", arguments: ["--access-key-id", Self.accessKeyID, "--region", "eu-west-1"],
            environment: ["SES_FAKE_SECRET_ACCESS_KEY": secret])
    }

    var environment: [String: String] {
        [
            "NOTIFY_SES_REGION": "eu-west-1", "NOTIFY_SES_ENDPOINT": server.baseURL, "NOTIFY_SES_ACCESS_KEY_ID": Self.accessKeyID,
            "NOTIFY_SES_SECRET_ACCESS_KEY": secret,
        ]
    }

    /// Every message accepted: `messageId`, `to`, `headerMessageId` (the MIME Message-ID), `subject`, `tags`, `at`.
    func messages() async throws -> [[String: Any]] { try await server.get("/_fake/messages") }

    static let topicARN = "arn:aws:sns:eu-west-1:123456789012:notify-ses-events"

    /// Settings that also send SES's events back through the fake's SNS topic to the daemon's listener on
    /// `listener` (after `subscribe`).
    func eventEnvironment(listener: Int) -> [String: String] {
        environment.merging([
            "NOTIFY_SES_CONFIGURATION_SET": "notify-events", "NOTIFY_SES_EVENTS_TOPIC_ARN": Self.topicARN,
            "NOTIFY_SES_EVENTS_CERTIFICATE_URL_PREFIX": "\(server.baseURL)/sns", "NOTIFY_HTTP_PORT": String(listener),
        ]) { $1 }
    }

    /// Subscribes `endpoint` to the topic: the fake posts a signed SubscriptionConfirmation; returns our answer
    /// and whether the daemon confirmed it.
    func subscribe(_ endpoint: String) async throws -> (answer: Int, confirmed: Bool) {
        let reply = try await server.post("/_fake/subscribe", ["endpoint": endpoint])
        return ((reply["answer"] as? NSNumber)?.intValue ?? -1, reply["confirmed"] as? Bool ?? false)
    }

    /// Every event posted: `messageId`, `eventType`, `answer` (the status our listener answered).
    func events() async throws -> [[String: Any]] { try await server.get("/_fake/events") }

    /// Posts one more event for SES message `messageId` now, signed (or not, when `tamper`), dated `age` seconds
    /// ago; returns our answer.
    func replay(messageId: String, eventType: String, tamper: Bool = false, age: Double = 0) async throws -> Int {
        let answer = try await server.post("/_fake/replay", ["messageId": messageId, "eventType": eventType, "tamper": tamper, "age": age])
        return (answer["answer"] as? NSNumber)?.intValue ?? -1
    }

    /// Every GET of a signing certificate (anything under `/sns/` but the subscription confirmation): `path`.
    func certificateFetches() async throws -> [String] {
        try await server.get("/_fake/certificate-fetches").compactMap { $0["path"] as? String }
    }
}

/// A test's own FCM contract fake (`deploy/dev/fakes/fcm_fake.py`, which checks our RS256 assertion with
/// joserfc), with a fresh service account: an RSA key made by openssl, its JSON key naming the fake's token URL.
final class FCMFake: @unchecked Sendable {
    static let project = "flowmart-test"
    static let clientEmail = "notifyd@flowmart-test.iam.gserviceaccount.com"
    let server: FakeServer
    let serviceAccount: String
    private let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("fcm-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let key = folder.appendingPathComponent("key.pem").path
        let publicKey = folder.appendingPathComponent("public.pem").path
        try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key])
        try openssl(["pkey", "-in", key, "-pubout", "-out", publicKey])
        server = try FakeServer(
            script: "fcm_fake.py", arguments: ["--public-key", publicKey, "--client-email", Self.clientEmail, "--project", Self.project],
            environment: [:])
        let account: [String: Any] = [
            "type": "service_account", "project_id": Self.project, "private_key_id": "test-key-1",
            "private_key": try String(contentsOfFile: key, encoding: .utf8), "client_email": Self.clientEmail,
            "token_uri": "\(server.baseURL)/token",
        ]
        serviceAccount = String(decoding: try JSONSerialization.data(withJSONObject: account), as: UTF8.self)
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    var environment: [String: String] {
        ["NOTIFY_FCM_SERVICE_ACCOUNT": serviceAccount, "NOTIFY_FCM_ENDPOINT": server.baseURL]
    }

    /// Every message accepted: `name`, `token`, `title`, `deliveryId`, `at`.
    func messages() async throws -> [[String: Any]] { try await server.get("/_fake/messages") }
    /// How many access tokens were handed out.
    func exchanges() async throws -> Int { (try await server.get("/_fake/stats").first?["exchanges"] as? Int) ?? -1 }
}

/// The APNs fake (`deploy/dev/fakes/apns_fake.py`): HTTP/2 over TLS with a CA of its own, which the daemon is
/// told to trust (`providers.caCertificate`); it checks our ES256 provider tokens with joserfc.
final class APNsFake: @unchecked Sendable {
    static let teamID = "TEAM123456"
    static let keyID = "KEY1234567"
    static let topic = "com.flowmart.app"
    let server: FakeServer
    let tlsPort: Int
    let privateKey: String
    let caCertificate: String
    private let folder: URL

    init() throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("apns-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let key = folder.appendingPathComponent("AuthKey.p8").path
        caCertificate = folder.appendingPathComponent("ca.pem").path
        try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key])
        privateKey = try String(contentsOfFile: key, encoding: .utf8)
        tlsPort = try freeLoopbackPort()
        server = try FakeServer(
            script: "apns_fake.py",
            arguments: [
                "--tls-port", String(tlsPort), "--ca-out", caCertificate, "--key", key, "--key-id", Self.keyID,
                "--team-id", Self.teamID, "--topic", Self.topic,
            ], environment: [:])
        for _ in 0..<100 where !isListening(onLoopbackPort: tlsPort) { Thread.sleep(forTimeInterval: 0.05) }
    }

    deinit { try? FileManager.default.removeItem(at: folder) }

    var environment: [String: String] {
        [
            "NOTIFY_APNS_TEAM_ID": Self.teamID, "NOTIFY_APNS_KEY_ID": Self.keyID, "NOTIFY_APNS_TOPIC": Self.topic,
            "NOTIFY_APNS_PRIVATE_KEY": privateKey, "NOTIFY_APNS_ENDPOINT": "https://127.0.0.1:\(tlsPort)",
            "NOTIFY_PROVIDERS_CA_CERTIFICATE": caCertificate,
        ]
    }

    /// Every push accepted: `token`, `apnsId`, `collapseId`, `priority`, `pushType`, `title`, `body`, `deliveryId`.
    func messages() async throws -> [[String: Any]] { try await server.get("/_fake/messages") }
    /// `provider_tokens` (distinct ones seen), `connections`, `requests`.
    func stats() async throws -> [String: Any] { try await server.get("/_fake/stats").first ?? [:] }
}

/// A test's own webhook receiver (`deploy/dev/fakes/webhook_receiver.py`), which verifies what it gets with the
/// `standardwebhooks` package, knowing only `secret`; with `tlsName`, also over HTTPS under a certificate for that
/// name alone, signed by the CA at `caCertificate`.
final class WebhookReceiver: @unchecked Sendable {
    let secret: String
    let server: FakeServer
    let tlsPort: Int?
    let caCertificate: String

    init(secret: String, tlsName: String? = nil) throws {
        self.secret = secret
        let ca = FileManager.default.temporaryDirectory.appendingPathComponent("webhook-ca-\(UUID().uuidString.prefix(8)).pem").path
        let port = try tlsName.map { _ in try freeLoopbackPort() }
        (caCertificate, tlsPort) = (ca, port)
        var tls: [String] = []
        if let tlsName, let port { tls = ["--tls-port", String(port), "--tls-name", tlsName, "--ca-out", ca] }
        server = try FakeServer(script: "webhook_receiver.py", arguments: tls, environment: ["WEBHOOK_RECEIVER_SECRET": secret])
    }

    deinit { try? FileManager.default.removeItem(atPath: caCertificate) }

    static func newSecret() -> String {
        "whsec_" + Data((0..<32).map { _ in UInt8.random(in: 0...255) }).base64EncodedString()
    }

    func url(_ path: String) -> String { "\(server.baseURL)/hook/\(path)" }

    /// Every request: `path`, `id`, `timestamp`, `verified`, `host` (the Host header), `body`.
    func received() async throws -> [[String: Any]] { try await server.get("/_fake/received") }

    /// The TLS server names (SNI) clients asked for, in order.
    func serverNames() async throws -> [String] { try await server.get("/_fake/sni").compactMap { $0["name"] as? String } }
}

/// Runs openssl (the fakes' keys are made by it, not by the code under test).
private func openssl(_ arguments: [String]) throws {
    let openssl = Process()
    openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
    openssl.arguments = arguments
    openssl.standardError = FileHandle.nullDevice
    try openssl.run()
    openssl.waitUntilExit()
    guard openssl.terminationStatus == 0 else { throw SupportFailure("openssl \(arguments[0]) failed") }
}
