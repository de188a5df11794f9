import AsyncHTTPClient
import Foundation
import NotifyCore
import X509

/// SES's event publishing, as receipts: a configuration set's event destination is an SNS topic, and the topic's
/// HTTPS subscription is the listener's `/receipts/ses`. Every message must come from the configured topic and be
/// signed under a certificate fetched from SNS itself (`SigningCertURL` under `certificateURLPrefix`, over TLS);
/// a subscription confirmation is confirmed by fetching its `SubscribeURL`, on the same host. A `Delivery` event
/// makes the delivery `delivered`, a permanent `Bounce` `bounced`, a transient bounce or a `Reject`
/// `undelivered`; the delivery is named by the message's `delivery` tag (`SESEmailProvider`).
struct SESEvents: ReceiptSource {
    let provider: String
    let settings: SESSettings.Events
    let transport: HTTPTransport
    let certificates: SigningCertificates

    var path: String { "/receipts/ses" }

    init(provider: String, settings: SESSettings.Events, transport: HTTPTransport) {
        self.provider = provider
        self.settings = settings
        self.transport = transport
        certificates = SigningCertificates(transport: transport)
    }

    func receipts(query: String?, headers: [(String, String)], body: [UInt8]) async -> ReceiptCheck {
        guard let message = SNSMessage(body: body) else { return .malformed("not an SNS message") }
        guard message.topicARN == settings.topicARN, isOurs(message.signingCertURL), message.signingCertURL.hasSuffix(".pem")
        else { return .badSignature }
        let certificate: Certificate
        switch await certificates.certificate(at: message.signingCertURL) {
        case .success(let found): certificate = found
        case .failure(let unavailable): return .unavailable(unavailable.reason)
        }
        guard message.isSigned(by: certificate) else { return .badSignature }
        switch message.kind {
        case .unsubscribeConfirmation:
            return .receipts([])
        case .subscriptionConfirmation:
            return await confirm(message)
        case .notification:
            guard let event = try? JSONInput().object(from: Array(message.message.utf8)) else {
                return .malformed("the notification's Message is not an SES event")
            }
            return .receipts(Self.receipt(event, provider: provider).map { [$0] } ?? [])
        }
    }

    /// Confirms the subscription (a GET of its `SubscribeURL`, which SNS puts on its own host).
    private func confirm(_ message: SNSMessage) async -> ReceiptCheck {
        guard let url = message.subscribeURL, isOurs(url), var request = try? HTTPClient.Request(url: url, method: .GET) else {
            return .badSignature
        }
        request.headers.add(name: "Accept", value: "application/xml")
        switch await transport.execute([request], timeout: .seconds(15))[0] {
        case .success(let response) where response.status == 200: return .receipts([])
        case .success(let response): return .unavailable("SNS answered \(response.status) to the subscription confirmation")
        case .failure(let failure): return .unavailable("cannot confirm the SNS subscription: \(failure.detail)")
        }
    }

    /// Under the configured prefix, and no way out of it.
    private func isOurs(_ url: String) -> Bool {
        url.hasPrefix(settings.certificateURLPrefix) && !url.contains("..") && !url.contains("@")
    }

    /// An SES event (event publishing's `eventType`, or a classic notification's `notificationType`) as a receipt
    /// of the delivery its `delivery` tag names; nil for events that change no status (sends, opens, clicks,
    /// complaints, delays) or without the tag.
    static func receipt(_ event: [String: Any], provider: String) -> Receipt? {
        let mail = event["mail"] as? [String: Any]
        guard let type = event["eventType"] as? String ?? event["notificationType"] as? String,
              let delivery = ((mail?["tags"] as? [String: Any])?["delivery"] as? [Any])?.first as? String
        else { return nil }
        let bounce = event["bounce"] as? [String: Any]
        let bounceType = bounce?["bounceType"] as? String
        guard let status = ReceiptStatus.ses(type, bounceType: bounceType) else { return nil }
        let code = bounce.map { "ses-bounce-\(bounceType ?? "Undetermined")-\($0["bounceSubType"] as? String ?? "General")" }
        return Receipt(
            deliveryID: delivery, provider: provider, providerMessageID: mail?["messageId"] as? String,
            providerStatus: bounceType.map { "\(type) \($0)" } ?? type, status: status,
            errorCode: code ?? (type == "Reject" ? "ses-reject" : nil))
    }
}

/// The certificates SNS signs with, fetched once per URL and kept for a day (at most 16: SNS uses one per
/// region at a time, and rotates it rarely).
actor SigningCertificates {
    private let transport: HTTPTransport
    private var cached: [String: (certificate: Certificate, fetched: Date)] = [:]

    init(transport: HTTPTransport) { self.transport = transport }

    struct Unavailable: Error {
        var reason: String
    }

    func certificate(at url: String, now: Date = Date()) async -> Result<Certificate, Unavailable> {
        if let entry = cached[url], now.timeIntervalSince(entry.fetched) < 86_400 { return .success(entry.certificate) }
        guard let request = try? HTTPClient.Request(url: url, method: .GET) else { return .failure(Unavailable(reason: "not a certificate URL")) }
        switch await transport.execute([request], timeout: .seconds(10))[0] {
        case .failure(let failure):
            return .failure(Unavailable(reason: "cannot fetch the SNS signing certificate: \(failure.detail)"))
        case .success(let response):
            guard response.status == 200, let certificate = try? Certificate(pemEncoded: String(decoding: response.body, as: UTF8.self))
            else { return .failure(Unavailable(reason: "the SNS signing certificate URL answered \(response.status) without a certificate")) }
            if cached.count >= 16 { cached.removeAll() }
            cached[url] = (certificate, now)
            return .success(certificate)
        }
    }
}
