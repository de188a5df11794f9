import AsyncHTTPClient
import Foundation
import NotifyCore
import X509

/// SES's event publishing, as receipts: a configuration set's event destination is an SNS topic, and the topic's
/// HTTPS subscription is the listener's `/receipts/ses`. Every message must come from the configured topic, be
/// dated within the hour, and be signed under a certificate fetched from SNS itself (`SigningCertURL` of SNS's
/// shape under `certificateURLPrefix`, over TLS), fetched only once the rest of the message passed
/// (`SNSMessage.refusal`) and at a bounded rate (`SigningCertificates`); a subscription confirmation is confirmed
/// by fetching its `SubscribeURL`, on the same host, once its signature holds. A `Delivery` event
/// makes the delivery `delivered`, a permanent `Bounce` `bounced`, a transient bounce or a `Reject`
/// `undelivered`; the delivery is named by the message's `delivery` tag (`SESEmailProvider`).
struct SESEvents: ReceiptSource {
    let provider: String
    let settings: SESSettings.Events
    let transport: HTTPTransport
    let certificates: SigningCertificates

    var path: String { "/receipts/ses" }

    /// - Parameter certificates: fetched through `transport` unless a test fetches them.
    init(provider: String, settings: SESSettings.Events, transport: HTTPTransport, certificates: SigningCertificates? = nil) {
        self.provider = provider
        self.settings = settings
        self.transport = transport
        self.certificates = certificates ?? SigningCertificates(transport: transport)
    }

    func receipts(query: String?, headers: [(String, String)], body: [UInt8]) async -> ReceiptCheck {
        guard let message = SNSMessage(body: body) else { return .malformed("not an SNS message") }
        if let reason = message.refusal(topicARN: settings.topicARN, certificateURLPrefix: settings.certificateURLPrefix, now: Date()) {
            return .refused(reason)
        }
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
