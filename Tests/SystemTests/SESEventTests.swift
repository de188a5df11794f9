import AsyncHTTPClient
import Foundation
import NIOCore
import NotifyCore
import StackSupport
import Testing

/// SES's event publishing as receipts: the fake plays SES and SNS, signing its messages as SNS does.
@Suite("SES events through SNS: signed receipts for email", .needsStack)
struct SESEventTests {
    /// A daemon sending email through the fake, its listener on `listener` subscribed to the fake's SNS topic.
    static func subscribed() async throws -> (ses: SESFake, listener: Int, service: ServiceHarness) {
        let ses = try SESFake()
        let listener = try freeLoopbackPort()
        let service = try await ServiceHarness(
            environment: ses.eventEnvironment(listener: listener).merging([
                "NOTIFY_EMAIL_FROM": "notifications@flowmart.example"
            ]) { $1 })
        let subscribed = try await ses.subscribe("http://127.0.0.1:\(listener)/receipts/ses")
        #expect(subscribed.answer == 200 && subscribed.confirmed, "the daemon fetched the SubscribeURL")
        return (ses, listener, service)
    }

    @Test(
        "the subscription is confirmed; Delivery makes an email delivered, a permanent bounce bounced, a transient one undelivered; forged, stale and late events change nothing"
    )
    func events() async throws {
        let (ses, _, service) = try await Self.subscribed()
        defer { Task { await service.shutDown() } }

        let users = ["ok": "ok@example.com", "hard": "hard@bounce.example", "full": "full@soft.example"]
        _ = try await service.db.withConnection { db in
            try db.copy(into: "recipients", columns: ["user_id", "email"], rows: users.map { [$0.key, $0.value] })
        }
        try await service.publish(users.keys.sorted().enumerated().map { Payments.confirmed(user: $1, index: $0) })

        let delivered = try await EmailDeliveryTests.delivery(of: "ok", service, until: "delivered")
        let bounced = try await EmailDeliveryTests.delivery(of: "hard", service, until: "bounced")
        _ = try await EmailDeliveryTests.delivery(of: "full", service, until: "undelivered")
        #expect(delivered["attempts"] as? Int == 1 && bounced["attempts"] as? Int == 1)
        let messages = try await ses.messages()
        #expect(messages.count == 3)
        #expect(
            messages.allSatisfy { (($0["tags"] as? [String: [String]])?["delivery"]?.first?.count ?? 0) == 36 },
            "every message carries its delivery id as a tag")
        #expect(try await ses.events().allSatisfy { $0["answer"] as? Int == 200 })

        let hard = try #require(messages.first { ($0["to"] as? [String]) == ["hard@bounce.example"] }?["messageId"] as? String)
        #expect(try await ses.replay(messageId: hard, eventType: "Delivery", tamper: true) == 401, "a forged event is refused")
        #expect(
            try await ses.replay(messageId: hard, eventType: "Delivery", age: 3660) == 401, "a signed event over an hour old is a replay")
        #expect(try await ses.replay(messageId: hard, eventType: "Delivery") == 200)
        #expect(
            try await EmailDeliveryTests.delivery(of: "hard", service, until: nil)["status"] as? String == "bounced",
            "a late Delivery never moves a bounce back")
        let stored = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM delivery_receipts WHERE provider = 'ses'")[0].decode(0, as: Int.self)
        }
        #expect(stored == 4, "three events and the late one are kept; the forged and the stale one are not")
    }

    @Test(
        "strangers' posts: only one naming our topic, dated within the hour, of SNS's shapes costs a certificate fetch, at most 5 a minute; SNS's events still arrive"
    )
    func strangersBounded() async throws {
        let (ses, listener, service) = try await Self.subscribed()
        defer { Task { await service.shutDown() } }
        #expect(try await ses.certificateFetches().count == 1)

        let prefix = "\(ses.server.baseURL)/sns"
        func stranger(topic: String = SESFake.topicARN, age: Double = 0, certificate: String? = nil, signatureBytes: Int = 256) -> [String:
            String]
        {
            [
                "Type": "Notification", "MessageId": UUID().uuidString.lowercased(), "TopicArn": topic, "Message": "{}",
                "Timestamp": RFC3339.string(from: Date().addingTimeInterval(-age)), "SignatureVersion": "2",
                "Signature": Data((0..<signatureBytes).map { _ in UInt8.random(in: 0...255) }).base64EncodedString(),
                "SigningCertURL": certificate ?? "\(prefix)/SimpleNotificationService-\(UUID().uuidString.prefix(8)).pem",
            ]
        }
        func post(_ fields: [String: String]) async throws -> Int {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(listener)/receipts/ses")
            request.method = .POST
            request.body = .bytes(ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: fields)))
            return Int(try await HTTPClient.shared.execute(request, timeout: .seconds(30)).status.code)
        }
        for refused in [
            stranger(topic: "arn:aws:sns:eu-west-1:666:evil"), stranger(age: 3660), stranger(age: -3660), stranger(signatureBytes: 16),
            stranger(certificate: "\(prefix)/other.pem"), stranger(certificate: "\(prefix)/../SimpleNotificationService-x.pem"),
            stranger(certificate: "\(ses.server.baseURL)/elsewhere/SimpleNotificationService-x.pem"),
        ] {
            #expect(try await post(refused) == 401, "\(refused)")
        }
        #expect(try await ses.certificateFetches().count == 1, "nothing fetched for them")

        var answers: [Int] = []
        for _ in 0..<20 { answers.append(try await post(stranger())) }
        #expect(answers == Array(repeating: 503, count: 20), "unverifiable: SNS would send them again")
        let fetched = try await ses.certificateFetches().filter { !$0.hasSuffix("/SimpleNotificationService-fake.pem") }
        #expect((1...5).contains(fetched.count), "20 new certificate URLs, \(fetched.count) fetched")

        // The budget is spent; SNS's own events verify under the certificate kept.
        _ = try await service.db.withConnection { db in
            try db.copy(into: "recipients", columns: ["user_id", "email"], rows: [["kept", "kept@example.com"]])
        }
        try await service.publish([Payments.confirmed(user: "kept", index: 1)])
        _ = try await EmailDeliveryTests.delivery(of: "kept", service, until: "delivered")
        #expect(try await ses.certificateFetches().count == fetched.count + 1)
    }
}
