import _CryptoExtras
import Crypto
import Foundation
import NotifyCore
import PropertyBased
import Testing
import X509
@testable import Providers

@Suite("SES events through SNS: what SNS signs, signatures, topics, the events' meaning")
struct SESEventsTests {
    static let topic = "arn:aws:sns:eu-west-1:123456789012:notify-ses-events"
    static let certificateURL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"

    /// A message as SNS would post it, signed with `key` (`version` 1: SHA-1, 2: SHA-256).
    static func body(_ fields: [String: String], key: _RSA.Signing.PrivateKey, version: String) throws -> [UInt8] {
        var fields = fields
        fields["SignatureVersion"] = version
        fields["SigningCertURL"] = fields["SigningCertURL"] ?? certificateURL
        let message = try #require(SNSMessage(body: try bytes(fields.merging(["Signature": "AA=="]) { $1 })))
        let signed = Data(message.stringToSign.utf8)
        let signature = version == "1"
            ? try key.signature(for: Insecure.SHA1.hash(data: signed), padding: .insecurePKCS1v1_5)
            : try key.signature(for: SHA256.hash(data: signed), padding: .insecurePKCS1v1_5)
        fields["Signature"] = signature.rawRepresentation.base64EncodedString()
        return try bytes(fields)
    }

    static func bytes(_ fields: [String: String]) throws -> [UInt8] { Array(try JSONSerialization.data(withJSONObject: fields)) }

    static func certificate(for key: _RSA.Signing.PrivateKey, validFor seconds: Double = 3600) throws -> Certificate {
        let name = try DistinguishedName { CommonName("sns.amazonaws.com") }
        return try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey), notValidBefore: Date().addingTimeInterval(-60),
            notValidAfter: Date().addingTimeInterval(seconds), issuer: name, subject: name, signatureAlgorithm: .sha256WithRSAEncryption,
            extensions: .init(), issuerPrivateKey: .init(key))
    }

    static let notification = [
        "Type": "Notification", "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", "TopicArn": topic,
        "Message": #"{"eventType": "Delivery"}"#, "Timestamp": "2026-12-04T05:00:00.000Z",
    ]

    @Test("what SNS signs: each field's name and value with a newline after each, Subject only when present, in SNS's order")
    func stringToSign() throws {
        let notification = try #require(SNSMessage(body: try Self.bytes(Self.notification.merging([
            "Signature": "AA==", "SignatureVersion": "2", "SigningCertURL": Self.certificateURL]) { $1 })))
        #expect(notification.stringToSign == """
            Message\n{"eventType": "Delivery"}\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nTimestamp\n2026-12-04T05:00:00.000Z\n\
            TopicArn\n\(Self.topic)\nType\nNotification\n
            """)
        let confirmation = try #require(SNSMessage(body: try Self.bytes([
            "Type": "SubscriptionConfirmation", "MessageId": "m", "TopicArn": "t", "Message": "hi", "Timestamp": "ts",
            "Token": "tok", "SubscribeURL": "https://sns/x", "Signature": "AA==", "SignatureVersion": "1", "SigningCertURL": "c"])))
        #expect(confirmation.stringToSign == "Message\nhi\nMessageId\nm\nSubscribeURL\nhttps://sns/x\nTimestamp\nts\nToken\ntok\nTopicArn\nt\nType\nSubscriptionConfirmation\n")
        #expect(SNSMessage(body: Array(#"{"Type": "Notification"}"#.utf8)) == nil)
        #expect(SNSMessage(body: Array("not json".utf8)) == nil)
    }

    @Test("signatures: versions 1 and 2 verify under the certificate; a changed field, another key, an expired certificate do not")
    func signatures() throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let certificate = try Self.certificate(for: key)
        for version in ["1", "2"] {
            let body = try Self.body(Self.notification, key: key, version: version)
            #expect(try #require(SNSMessage(body: body)).isSigned(by: certificate), "version \(version)")
            var tampered = try #require(SNSMessage(body: body))
            tampered.message = #"{"eventType": "Bounce"}"#
            #expect(!tampered.isSigned(by: certificate))
        }
        let other = try Self.certificate(for: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        #expect(try !(#require(SNSMessage(body: try Self.body(Self.notification, key: key, version: "2"))).isSigned(by: other)))
        let body = try Self.body(Self.notification, key: key, version: "2")
        #expect(try !(#require(SNSMessage(body: body))).isSigned(by: certificate, now: Date().addingTimeInterval(7200)), "expired")
        #expect(try !(#require(SNSMessage(body: try Self.body(Self.notification, key: key, version: "3"))).isSigned(by: certificate)))
    }

    @Test("another topic, or a certificate URL outside SNS's host, is refused before anything is fetched")
    func refusedUnfetched() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let transport = HTTPTransport()
        let events = SESEvents(provider: "ses", settings: .init(topicARN: Self.topic, certificateURLPrefix: "https://sns.eu-west-1.amazonaws.com/"),
                               transport: transport)
        let otherTopic = try Self.body(Self.notification.merging(["TopicArn": "arn:aws:sns:eu-west-1:666:evil"]) { $1 }, key: key, version: "2")
        #expect(await events.receipts(query: nil, headers: [], body: otherTopic) == .badSignature)
        for url in ["https://evil.example/cert.pem", "https://sns.eu-west-1.amazonaws.com.evil.example/c.pem",
                    "https://sns.eu-west-1.amazonaws.com/../x.pem", "https://sns.eu-west-1.amazonaws.com/cert.txt"] {
            let body = try Self.body(Self.notification.merging(["SigningCertURL": url]) { $1 }, key: key, version: "2")
            #expect(await events.receipts(query: nil, headers: [], body: body) == .badSignature, "\(url)")
        }
        #expect(await events.receipts(query: nil, headers: [], body: Array("{}".utf8)) == .malformed("not an SNS message"))
        await transport.shutdown()
    }

    @Test("hostile bodies, and SNS-shaped ones with any fields: refused or read, never a crash, never a receipt unchecked")
    func hostileBodies() async throws {
        let transport = HTTPTransport()
        let events = SESEvents(provider: "ses", settings: .init(topicARN: Self.topic, certificateURLPrefix: "https://sns.eu-west-1.amazonaws.com/"),
                               transport: transport)
        let keys = ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "Signature", "SignatureVersion", "SigningCertURL", "Token"]
        await propertyCheck(count: 1000, input: Gen.int(in: 0...255).array(of: 0...300), Gen.int(in: 0...keys.count - 1).array(of: 0...12)) { bytes, picks in
            // Raw bytes, and an SNS-shaped object whose fields are those bytes as text (never our topic).
            let text = String(decoding: bytes.map { UInt8($0) }, as: UTF8.self)
            var fields: [String: String] = [:]
            for pick in picks { fields[keys[pick]] = pick == 0 ? "Notification" : text }
            for body in [bytes.map { UInt8($0) }, (try? Self.bytes(fields)) ?? []] {
                if case .receipts = await events.receipts(query: nil, headers: [], body: body) {
                    Issue.record("a receipt from an unsigned message")
                }
            }
        }
        await transport.shutdown()
    }

    @Test("events: Delivery delivered, a permanent bounce bounced, a transient one or a reject undelivered; opens and sends change nothing")
    func meaning() {
        func receipt(_ type: String, bounce: String? = nil, tag: Bool = true) -> Receipt? {
            var event: [String: Any] = ["eventType": type, "mail": ["messageId": "0102abc", "tags": tag ? ["delivery": ["d-1"]] : [:]]]
            if let bounce { event["bounce"] = ["bounceType": bounce, "bounceSubType": "General"] }
            return SESEvents.receipt(event, provider: "ses")
        }
        #expect(receipt("Delivery")?.status == .delivered && receipt("Delivery")?.deliveryID == "d-1")
        #expect(receipt("Delivery")?.providerMessageID == "0102abc")
        #expect(receipt("Bounce", bounce: "Permanent")?.status == .bounced)
        #expect(receipt("Bounce", bounce: "Permanent")?.errorCode == "ses-bounce-Permanent-General")
        #expect(receipt("Bounce", bounce: "Transient")?.status == .undelivered)
        #expect(receipt("Reject")?.status == .undelivered)
        #expect(receipt("Open") == nil && receipt("Send") == nil && receipt("Complaint") == nil)
        #expect(receipt("Delivery", tag: false) == nil, "an email we did not tag is not ours to track")
        let classic: [String: Any] = ["notificationType": "Delivery", "mail": ["tags": ["delivery": ["d-2"]]]]
        #expect(SESEvents.receipt(classic, provider: "ses")?.deliveryID == "d-2")
    }
}
