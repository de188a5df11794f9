import Foundation
import TestSupport

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

    /// Every message accepted: `messageId`, `to`, `headerMessageId` (the MIME Message-ID), `subject`, `at`.
    func messages() async throws -> [[String: Any]] { try await server.get("/_fake/messages") }
}
