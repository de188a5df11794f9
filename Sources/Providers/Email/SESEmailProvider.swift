import AsyncHTTPClient
import Foundation
import NIOCore
import NotifyCore

/// Email through Amazon SES's v2 API: one SigV4-signed `POST /v2/email/outbound-emails` per message carrying the
/// raw MIME message `EmailComposer` writes, so a message failed over from SMTP has the same `Message-ID` and a
/// repeat is recognisable whichever provider sent it. The reply's `MessageId` is the provider's id.
public struct SESEmailProvider: DeliveryProvider {
    public let channel = NotificationChannel.email
    public let name = "ses"
    public let settings: SESSettings
    public let composer: EmailComposer
    let transport: HTTPTransport
    let signer: SigV4
    let host: String

    public init(settings: SESSettings, composer: EmailComposer, transport: HTTPTransport) throws(ProviderSetupError) {
        guard let url = URL(string: settings.endpoint), let host = url.host else {
            throw ProviderSetupError("ses.endpoint is not a URL")
        }
        let defaultPort = url.scheme == "https" ? 443 : 80
        self.host = url.port.map { $0 == defaultPort ? host : "\(host):\($0)" } ?? host
        self.settings = settings
        self.composer = composer
        self.transport = transport
        receipts = settings.events.map { SESEvents(provider: "ses", settings: $0, transport: transport) }
        signer = SigV4(
            accessKeyID: settings.accessKeyID, secretAccessKey: settings.secretAccessKey, sessionToken: settings.sessionToken,
            region: settings.region, service: "ses")
    }

    public var endpoint: String { settings.description }
    public var rateLimit: RateLimit? { settings.rateLimit }
    /// One for the provider's life: it caches SNS's signing certificates.
    public let receipts: (any ReceiptSource)?

    static let path = "/v2/email/outbound-emails"

    public func send(_ deliveries: [ClaimedDelivery]) async -> [DeliveryResult] {
        let now = Date()
        let badURL = DeliveryFailure(code: "bad-url", .provider, detail: "ses.endpoint is not a usable URL")
        let planned = deliveries.map { delivery in
            let message = composer.compose(delivery.job, to: delivery.address, date: now)
            var members: [(String, JSONValue)] = [
                ("FromEmailAddress", .string(composer.fromAddress)),
                ("Destination", .object([("ToAddresses", .array([.string(delivery.address)]))])),
                ("Content", .object([("Raw", .object([("Data", .string(Data(message).base64EncodedString()))]))])),
            ]
            if let set = settings.configurationSet { members.append(("ConfigurationSetName", .string(set))) }
            // Names the delivery in SES's events (`SESEvents`); a UUID is a valid tag value.
            members.append(("EmailTags", .array([.object([("Name", .string("delivery")), ("Value", .string(delivery.job.deliveryID))])])))
            let body = JSONValue.object(members).bytes
            let headers = [("Content-Type", "application/json")]
            let signed = signer.headers(method: "POST", host: host, path: Self.path, headers: headers, body: body, date: now)
            return HTTPTransport.post(settings.endpoint + Self.path, headers: headers + signed, body: body, orElse: badURL)
        }
        return await transport.send(planned, timeout: settings.timeout, classify: Self.result)
    }

    /// 200 with a `MessageId` is sent. Errors are named by `x-amzn-ErrorType` (SES v2's error list): a rejected
    /// message or a bad request is about this message; a paused or suspended account, or a sender SES will not
    /// send for, is provider-wide; throttling and limits are 429s; the rest follows the status.
    static func result(_ response: HTTPTransport.Response) -> DeliveryResult {
        let fields = try? JSONInput().object(from: response.body)
        if response.status == 200 {
            guard let id = fields?["MessageId"] as? String, !id.isEmpty else {
                return .failed(DeliveryFailure(code: "bad-reply", .transient, detail: "HTTP 200 without a MessageId"))
            }
            return .sent(providerMessageID: id)
        }
        let type = response.header("x-amzn-ErrorType").map { String($0.prefix { $0 != ":" }) }
        let message = fields?["message"] as? String ?? fields?["Message"] as? String ?? "no error message"
        let detail = "\(type ?? "error"): \(message)"
        let code = type.map { "ses-\($0)" }
        switch type {
        case "AccountSuspendedException", "SendingPausedException", "MailFromDomainNotVerifiedException":
            return .failed(DeliveryFailure(code: code!, .provider, detail: "HTTP \(response.status): \(String(detail.prefix(512)))"))
        case "TooManyRequestsException", "LimitExceededException":
            let retryAfter = RetryAfter.seconds(response.header("Retry-After"), now: Date().timeIntervalSince1970)
            return .failed(.http(status: 429, code: code, detail: detail, retryAfter: retryAfter))
        default:
            return .failed(.http(status: response.status, code: code, detail: detail))
        }
    }

    /// The shared transport is its owner's to shut down.
    public func shutdown() async {}
}

/// A provider that cannot be set up from its settings: the description names the setting, never a secret.
public struct ProviderSetupError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
