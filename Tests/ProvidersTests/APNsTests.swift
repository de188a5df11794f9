import Crypto
import Foundation
import JWTKit
import NotifyCore
import Testing

@testable import Providers

@Suite("APNs: provider tokens, headers, payloads, error replies")
struct APNsTests {
    static let job = DeliveryJob(
        deliveryID: "6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5", notificationID: "0b1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5", userID: "u",
        channel: .push, lane: .high, transactional: true,
        content: MessageContent(subject: "Payment failed", text: "Try another card", html: nil))

    static func settings(key: P256.Signing.PrivateKey, lifetime: Duration = .seconds(2400)) -> APNsSettings {
        var settings = APNsSettings(
            teamID: "TEAM123456", keyID: "KEY1234567", privateKeyPEM: key.pemRepresentation, topic: "com.flowmart.app")
        settings.tokenLifetime = lifetime
        return settings
    }

    @Test("the provider token: ES256 under the team's key with kid and iss, whole-second iat, reused until its lifetime is over")
    func providerToken() async throws {
        let key = P256.Signing.PrivateKey()
        let token = try await APNsProviderToken(settings: Self.settings(key: key))
        let now = Date(timeIntervalSince1970: 1_800_000_000.7)
        let first = try await token.token(now: now).get()
        let verifier = JWTKeyCollection()
        await verifier.add(ecdsa: try ES256PublicKey(pem: key.publicKey.pemRepresentation), kid: JWKIdentifier(string: "KEY1234567"))
        let claims = try await verifier.verify(first, as: APNsProviderToken.Claims.self)
        #expect(claims.iss.value == "TEAM123456" && claims.iat.value == Date(timeIntervalSince1970: 1_800_000_000))
        let header = try JSONSerialization.jsonObject(with: Data(base64URL: String(first.split(separator: ".")[0]))!) as? [String: Any]
        #expect(header?["alg"] as? String == "ES256" && header?["kid"] as? String == "KEY1234567")
        #expect(try await token.token(now: now.addingTimeInterval(2399)).get() == first, "shared until it is 40 minutes old")
        #expect(try await token.token(now: now.addingTimeInterval(2400)).get() != first)
        let second = try await token.token(now: now.addingTimeInterval(2400)).get()
        await token.expired(second)
        #expect(try await token.token(now: now.addingTimeInterval(2401)).get() != second, "an expired token is signed anew")
        await #expect(throws: ProviderSetupError.self) {
            try await APNsProviderToken(settings: APNsSettings(teamID: "T", keyID: "K", privateKeyPEM: "not a key", topic: "t"))
        }
    }

    @Test(
        "headers: topic, alert push type, priority 10 on the high lane and 5 otherwise, apns-id the delivery id, collapse id the notification id"
    )
    func headers() {
        let headers = Dictionary(
            uniqueKeysWithValues: APNsProvider.headers(Self.job, bearer: "jwt", topic: "com.flowmart.app", expiration: 42))
        #expect(headers["authorization"] == "bearer jwt" && headers["apns-topic"] == "com.flowmart.app")
        #expect(headers["apns-push-type"] == "alert" && headers["apns-priority"] == "10" && headers["apns-expiration"] == "42")
        #expect(headers["apns-id"] == Self.job.deliveryID && headers["apns-collapse-id"] == Self.job.notificationID)
        var bulk = Self.job
        bulk.lane = .low
        bulk.deliveryID = "not-a-uuid"
        let other = Dictionary(uniqueKeysWithValues: APNsProvider.headers(bulk, bearer: "jwt", topic: "t", expiration: 0))
        #expect(other["apns-priority"] == "5" && other["apns-id"] == nil, "APNs makes its own id when ours is no UUID")
    }

    @Test("the payload is an alert with our ids, and a long body is shortened with an ellipsis to fit 4 KiB")
    func payload() throws {
        #expect(
            String(decoding: APNsProvider.payload(Self.job), as: UTF8.self) == """
                {"aps":{"alert":{"title":"Payment failed","body":"Try another card"},"sound":"default"},\
                "deliveryId":"\(Self.job.deliveryID)","notificationId":"\(Self.job.notificationID)"}
                """)
        var long = Self.job
        long.content.text = String(repeating: "é", count: 10_000)
        let bytes = APNsProvider.payload(long)
        #expect(bytes.count <= APNsProvider.maxPayloadBytes)
        let body = try #require(
            ((JSONInput().object(from: bytes)["aps"] as? [String: Any])?["alert"] as? [String: Any])?["body"] as? String)
        #expect(body.hasSuffix("…") && body.count > 1000)
    }

    @Test(
        "errors: 410 ends the delivery and drops the token, 400 BadDeviceToken ends it only, 403 is provider-wide, 429 waits, 5xx retries")
    func errors() {
        func failure(_ status: Int, _ reason: String?) -> DeliveryFailure { .apns(status: status, reason: reason, retryAfter: nil) }
        #expect(failure(410, "Unregistered").failureClass == .permanent && failure(410, "Unregistered").unregistersToken)
        #expect(failure(410, "ExpiredToken").unregistersToken && failure(410, nil).unregistersToken)
        #expect(failure(400, "BadDeviceToken").failureClass == .permanent && !failure(400, "BadDeviceToken").unregistersToken)
        #expect(failure(413, "PayloadTooLarge").failureClass == .permanent)
        #expect(
            failure(403, "InvalidProviderToken").failureClass == .provider && failure(403, "ExpiredProviderToken").failureClass == .provider
        )
        #expect(failure(400, "BadTopic").failureClass == .provider)
        #expect(failure(429, "TooManyProviderTokenUpdates").failureClass == .provider)
        #expect(failure(429, "TooManyRequests").failureClass == .transient, "one device over its limit does not slow the provider")
        #expect(failure(503, "ServiceUnavailable").failureClass == .transient && failure(500, nil).failureClass == .transient)
        #expect(failure(410, "Unregistered").code == "apns-Unregistered")
    }
}

extension Data {
    init?(base64URL: String) {
        var text = base64URL.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.count % 4 != 0 { text += "=" }
        self.init(base64Encoded: text)
    }
}
