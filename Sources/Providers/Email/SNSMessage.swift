import Crypto
import Foundation
import NotifyCore
import X509
import _CryptoExtras

/// An Amazon SNS message as an HTTP(S) subscription receives it (SNS's "Verifying the signatures of Amazon SNS
/// messages"): a JSON body whose `Signature` is RSA PKCS#1 v1.5 over its fields (SHA-1 for `SignatureVersion`
/// 1, SHA-256 for 2) under the certificate at `SigningCertURL`. Nothing in it counts until that holds.
struct SNSMessage: Sendable, Equatable {
    enum Kind: String, Sendable {
        case notification = "Notification"
        case subscriptionConfirmation = "SubscriptionConfirmation"
        case unsubscribeConfirmation = "UnsubscribeConfirmation"
    }

    var kind: Kind
    var messageID: String
    var topicARN: String
    var subject: String?
    var message: String
    var timestamp: String
    var token: String?
    var subscribeURL: String?
    var signatureVersion: String
    var signature: [UInt8]
    var signingCertURL: String

    /// The body's fields, or nil when it is not an SNS message of a kind we know.
    init?(body: [UInt8]) {
        guard let fields = try? JSONInput().object(from: body),
            let kind = (fields["Type"] as? String).flatMap(Kind.init), let messageID = fields["MessageId"] as? String,
            let topic = fields["TopicArn"] as? String, let message = fields["Message"] as? String,
            let timestamp = fields["Timestamp"] as? String, let version = fields["SignatureVersion"] as? String,
            let signature = (fields["Signature"] as? String).flatMap({ Data(base64Encoded: $0) }),
            let certificate = fields["SigningCertURL"] as? String
        else { return nil }
        self.kind = kind
        self.messageID = messageID
        topicARN = topic
        subject = fields["Subject"] as? String
        self.message = message
        self.timestamp = timestamp
        token = fields["Token"] as? String
        subscribeURL = fields["SubscribeURL"] as? String
        signatureVersion = version
        self.signature = Array(signature)
        signingCertURL = certificate
        if kind != .notification, token == nil || subscribeURL == nil { return nil }
    }

    /// How far a message's `Timestamp` may be from now: SNS retries a delivery for at most an hour, so an older
    /// message is a replay, never SNS's.
    static let maxAge: TimeInterval = 3600

    /// Why the message cannot be SNS's for `topicARN`, from its shape alone, or nil: checked before its signing
    /// certificate is fetched, so a stranger's post costs no fetch unless it names our topic, is dated within an
    /// hour of `now`, has a signature of an RSA key's length (1,024 to 4,096 bits) in a version we check, and a
    /// `SigningCertURL` of SNS's shape (`SimpleNotificationService-<id>.pem`, right under `certificateURLPrefix`).
    func refusal(topicARN: String, certificateURLPrefix: String, now: Date) -> String? {
        guard self.topicARN == topicARN else { return "another topic" }
        guard let date = RFC3339.date(from: timestamp), abs(date.timeIntervalSince(now)) <= Self.maxAge else {
            return "a Timestamp more than an hour from now"
        }
        guard signatureVersion == "1" || signatureVersion == "2", (128...512).contains(signature.count) else {
            return "not a signature SNS makes"
        }
        guard Self.isCertificateURL(signingCertURL, under: certificateURLPrefix) else { return "a SigningCertURL not of SNS's shape" }
        return nil
    }

    /// `prefix` + `/SimpleNotificationService-<1 to 64 letters or digits>.pem` (the `/` may end the prefix), nothing else.
    static func isCertificateURL(_ url: String, under prefix: String) -> Bool {
        guard url.hasPrefix(prefix) else { return false }
        var name = url.dropFirst(prefix.count)
        if !prefix.hasSuffix("/") {
            guard name.first == "/" else { return false }
            name = name.dropFirst()
        }
        let stem = "SimpleNotificationService-"
        guard name.hasPrefix(stem), name.hasSuffix(".pem") else { return false }
        let id = name.dropFirst(stem.count).dropLast(4)
        return (1...64).contains(id.count)
            && id.utf8.allSatisfy { (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }

    /// What SNS signed: `name\nvalue\n` for each signed field, in this order, `Subject` only when present.
    var stringToSign: String {
        var pairs: [(String, String?)] = [("Message", message), ("MessageId", messageID)]
        switch kind {
        case .notification:
            pairs += [("Subject", subject), ("Timestamp", timestamp), ("TopicArn", topicARN), ("Type", kind.rawValue)]
        case .subscriptionConfirmation, .unsubscribeConfirmation:
            pairs += [
                ("SubscribeURL", subscribeURL), ("Timestamp", timestamp), ("Token", token), ("TopicArn", topicARN),
                ("Type", kind.rawValue),
            ]
        }
        return pairs.compactMap { name, value in value.map { "\(name)\n\($0)\n" } }.joined()
    }

    /// Whether `certificate` (valid at `now`, with an RSA key) signed this message.
    func isSigned(by certificate: Certificate, now: Date = Date()) -> Bool {
        guard certificate.notValidBefore <= now, now <= certificate.notValidAfter,
            let key = _RSA.Signing.PublicKey(certificate.publicKey)
        else { return false }
        let signature = _RSA.Signing.RSASignature(rawRepresentation: signature)
        let signed = Data(stringToSign.utf8)
        switch signatureVersion {
        case "1": return key.isValidSignature(signature, for: Insecure.SHA1.hash(data: signed), padding: .insecurePKCS1v1_5)
        case "2": return key.isValidSignature(signature, for: SHA256.hash(data: signed), padding: .insecurePKCS1v1_5)
        default: return false
        }
    }
}
