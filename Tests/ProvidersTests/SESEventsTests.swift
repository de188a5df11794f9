import Crypto
import Foundation
import NotifyCore
import PropertyBased
import Testing
import X509
import _CryptoExtras

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
        let signature =
            version == "1"
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
        let notification = try #require(
            SNSMessage(
                body: try Self.bytes(
                    Self.notification.merging([
                        "Signature": "AA==", "SignatureVersion": "2", "SigningCertURL": Self.certificateURL,
                    ]) { $1 })))
        #expect(
            notification.stringToSign == """
                Message\n{"eventType": "Delivery"}\nMessageId\n22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324\nTimestamp\n2026-12-04T05:00:00.000Z\n\
                TopicArn\n\(Self.topic)\nType\nNotification\n
                """)
        let confirmation = try #require(
            SNSMessage(
                body: try Self.bytes([
                    "Type": "SubscriptionConfirmation", "MessageId": "m", "TopicArn": "t", "Message": "hi", "Timestamp": "ts",
                    "Token": "tok", "SubscribeURL": "https://sns/x", "Signature": "AA==", "SignatureVersion": "1", "SigningCertURL": "c",
                ])))
        #expect(
            confirmation.stringToSign
                == "Message\nhi\nMessageId\nm\nSubscribeURL\nhttps://sns/x\nTimestamp\nts\nToken\ntok\nTopicArn\nt\nType\nSubscriptionConfirmation\n"
        )
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

    /// A message dated `age` seconds ago, otherwise `notification`.
    static func fresh(age: TimeInterval = 0, _ changes: [String: String] = [:]) -> [String: String] {
        notification.merging(["Timestamp": RFC3339.string(from: Date().addingTimeInterval(-age))]) { $1 }.merging(changes) { $1 }
    }

    /// The certificate fetches a test's `SigningCertificates` made, by URL; each answers `certificate` (or 404 when
    /// it is nil) after `delay`.
    actor Fetches {
        private(set) var urls: [String] = []
        var certificate: Certificate?
        init(_ certificate: Certificate?) { self.certificate = certificate }

        func answer(_ certificate: Certificate?) { self.certificate = certificate }

        func fetch(_ url: String, delay: Duration) async -> Result<Certificate, SigningCertificates.Unavailable> {
            urls.append(url)
            try? await Task.sleep(for: delay)
            return certificate.map { .success($0) } ?? .failure(.init(reason: "404"))
        }

        nonisolated func certificates(delay: Duration = .zero) -> SigningCertificates {
            SigningCertificates { url in await self.fetch(url, delay: delay) }
        }
    }

    @Test(
        "refused before anything is fetched: another topic, a Timestamp over an hour away, a signature SNS never makes, a certificate URL not of SNS's shape"
    )
    func refusedUnfetched() async throws {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let fetches = Fetches(try Self.certificate(for: key))
        let transport = HTTPTransport()
        defer { Task { await transport.shutdown() } }
        let events = SESEvents(
            provider: "ses", settings: .init(topicARN: Self.topic, certificateURLPrefix: "https://sns.eu-west-1.amazonaws.com/"),
            transport: transport, certificates: fetches.certificates())
        func answer(_ fields: [String: String], version: String = "2") async throws -> ReceiptCheck {
            await events.receipts(query: nil, headers: [], body: try Self.body(fields, key: key, version: version))
        }
        #expect(try await answer(Self.fresh(["TopicArn": "arn:aws:sns:eu-west-1:666:evil"])) == .refused("another topic"))
        for age: TimeInterval in [3601, -3601, 86_400 * 365] {
            #expect(try await answer(Self.fresh(age: age)) == .refused("a Timestamp more than an hour from now"), "\(age)")
        }
        #expect(try await answer(Self.fresh(["Timestamp": "yesterday"])) == .refused("a Timestamp more than an hour from now"))
        #expect(try await answer(Self.fresh(), version: "3") == .refused("not a signature SNS makes"))
        let short = try Self.bytes(Self.fresh(["SignatureVersion": "2", "Signature": "AAAA", "SigningCertURL": Self.certificateURL]))
        #expect(await events.receipts(query: nil, headers: [], body: short) == .refused("not a signature SNS makes"))
        for url in [
            "https://evil.example/SimpleNotificationService-abc.pem",
            "https://sns.eu-west-1.amazonaws.com.evil.example/SimpleNotificationService-abc.pem",
            "https://sns.eu-west-1.amazonaws.com/../SimpleNotificationService-abc.pem", "https://sns.eu-west-1.amazonaws.com/cert.pem",
            "https://sns.eu-west-1.amazonaws.com/x/SimpleNotificationService-abc.pem",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.txt",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-a%2F.pem",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-.pem",
            "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-\(String(repeating: "a", count: 65)).pem",
        ] {
            #expect(try await answer(Self.fresh(["SigningCertURL": url])) == .refused("a SigningCertURL not of SNS's shape"), "\(url)")
        }
        #expect(await fetches.urls.isEmpty)
        #expect(await events.receipts(query: nil, headers: [], body: Array("{}".utf8)) == .malformed("not an SNS message"))
        // 59 minutes old, either way, and of SNS's shape: the certificate is fetched (once) and the signature checked.
        #expect(try await answer(Self.fresh(age: 3540)) == .receipts([]))
        #expect(try await answer(Self.fresh(age: -3540)) == .receipts([]))
        #expect(await fetches.urls == [Self.certificateURL])
    }

    @Test(
        "certificate fetches: one per URL however many messages wait for it, at most 5 starting in a minute, at most 16 kept, the oldest going first"
    )
    func fetchBudget() async throws {
        let certificate = try Self.certificate(for: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        let fetches = Fetches(certificate)
        let certificates = fetches.certificates(delay: .milliseconds(100))
        let start = Date()
        func url(_ index: Int) -> String { "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-\(index).pem" }
        func kept(_ index: Int, at seconds: Double) async -> Bool {
            (try? await certificates.certificate(at: url(index), now: start.addingTimeInterval(seconds)).get()) != nil
        }

        let shared = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<20 { group.addTask { await kept(0, at: 0) } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(shared == 20)
        #expect(await fetches.urls == [url(0)], "twenty messages, one fetch")
        for index in 1...4 { #expect(await kept(index, at: Double(index))) }
        let sixth = await certificates.certificate(at: url(5), now: start.addingTimeInterval(59))
        #expect(sixth == .failure(.init(reason: "more than 5 SNS signing certificate fetches in a minute")))
        #expect(await fetches.urls.count == 5, "the sixth in the minute is not fetched")
        #expect(await kept(0, at: 59), "a kept one needs no fetch")

        // Five a minute until 17 URLs were fetched: the 17th pushes out the oldest, url(0).
        for index in 5...16 { #expect(await kept(index, at: 100 + 61 * Double((index - 5) / 5) + Double(index)), "\(index)") }
        #expect(await fetches.urls.count == 17)
        #expect(await kept(16, at: 600))
        #expect(await kept(1, at: 600))
        #expect(await fetches.urls.count == 17, "16 kept")
        #expect(await kept(0, at: 600))
        #expect(await fetches.urls.count == 18)
        #expect(await fetches.urls.last == url(0), "the oldest was gone, so fetched again")
    }

    @Test("a kept certificate a day old is fetched again, but serves on while strangers spend the budget or the fetch fails")
    func keptServesOn() async throws {
        let certificate = try Self.certificate(for: try _RSA.Signing.PrivateKey(keySize: .bits2048))
        let fetches = Fetches(certificate)
        let certificates = fetches.certificates()
        let url = Self.certificateURL
        let start = Date()
        func kept(at seconds: Double) async -> Bool {
            (try? await certificates.certificate(at: url, now: start.addingTimeInterval(seconds)).get()) != nil
        }
        #expect(await kept(at: 0))
        let nextDay: Double = 86_401
        for index in 0..<5 { _ = await certificates.certificate(at: "\(url).\(index)", now: start.addingTimeInterval(nextDay)) }
        #expect(await kept(at: nextDay), "over budget: the kept one serves")
        #expect(await fetches.urls.count == 6)
        #expect(await kept(at: nextDay + 60))
        #expect(await fetches.urls.count == 7, "fetched again once the budget allows")
        #expect(await fetches.urls.last == url)

        await fetches.answer(nil)
        #expect(await kept(at: 2 * nextDay + 60), "the fetch failed: the kept one serves")
        #expect(await fetches.urls.count == 8)
        #expect(
            await certificates.certificate(at: url + ".new", now: start.addingTimeInterval(2 * nextDay + 60))
                == .failure(.init(reason: "404")))
    }

    @Test("hostile bodies, and SNS-shaped ones with any fields: refused or read, never a crash, never a receipt unchecked")
    func hostileBodies() async throws {
        let transport = HTTPTransport()
        let events = SESEvents(
            provider: "ses", settings: .init(topicARN: Self.topic, certificateURLPrefix: "https://sns.eu-west-1.amazonaws.com/"),
            transport: transport)
        let keys = ["Type", "MessageId", "TopicArn", "Message", "Timestamp", "Signature", "SignatureVersion", "SigningCertURL", "Token"]
        await propertyCheck(count: 1000, input: Gen.int(in: 0...255).array(of: 0...300), Gen.int(in: 0...keys.count - 1).array(of: 0...12))
        { bytes, picks in
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
