import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NotifyCore

/// SMS through Twilio's Messages API: one form-encoded `POST …/Messages.json` per message with Basic auth, the
/// reply's `sid` as the provider's id, errors classified by Twilio's codes (`DeliveryFailure.twilio`). Each
/// request asks for status callbacks at our receipt URL with the delivery's id in it, so a receipt finds its
/// delivery even before the send is recorded, and repeated sends of one delivery are recognisable.
public struct TwilioProvider: DeliveryProvider {
    public let channel = NotificationChannel.sms
    public let name = "twilio"
    public let settings: TwilioSettings
    let transport: HTTPTransport

    public init(settings: TwilioSettings, transport: HTTPTransport) {
        self.settings = settings
        self.transport = transport
    }

    public var endpoint: String { settings.description }
    public var rateLimit: RateLimit? { settings.rateLimit }
    public var receipts: (any ReceiptSource)? {
        settings.statusCallbackURL.map { TwilioReceipts(provider: name, callbackURL: $0, authToken: settings.authToken) }
    }

    var messagesURL: String { "\(settings.baseURL)/2010-04-01/Accounts/\(settings.accountSID)/Messages.json" }

    public func send(_ deliveries: [ClaimedDelivery]) async -> [DeliveryResult] {
        let headers = [
            ("Authorization", "Basic " + Data("\(settings.accountSID):\(settings.authToken)".utf8).base64EncodedString()),
            ("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json"),
        ]
        let badURL = DeliveryFailure(code: "bad-url", .provider, detail: "twilio.baseUrl is not a usable URL")
        let planned = deliveries.map { delivery in
            var fields = [("To", delivery.address), ("Body", delivery.job.content.text)]
            if let service = settings.messagingServiceSID { fields.append(("MessagingServiceSid", service)) }
            if let from = settings.from { fields.append(("From", from)) }
            if let callback = settings.statusCallbackURL {
                fields.append(("StatusCallback", "\(callback)?delivery=\(delivery.job.deliveryID)"))
            }
            return HTTPTransport.post(messagesURL, headers: headers, body: Array(FormEncoding.encode(fields).utf8), orElse: badURL)
        }
        return await transport.send(planned, timeout: settings.timeout, classify: Self.result)
    }

    /// 200 or 201 with a `sid` is accepted; anything else is classified by its status and Twilio's `code`.
    static func result(_ response: HTTPTransport.Response) -> DeliveryResult {
        let fields = try? JSONInput().object(from: response.body)
        if (200...299).contains(response.status) {
            guard let sid = fields?["sid"] as? String, !sid.isEmpty else {
                return .failed(DeliveryFailure(code: "bad-reply", .transient, detail: "HTTP \(response.status) without a message sid"))
            }
            return .sent(providerMessageID: sid)
        }
        let code = (fields?["code"] as? NSNumber)?.intValue
        let message = fields?["message"] as? String ?? "no error message"
        let retryAfter = RetryAfter.seconds(response.header("Retry-After"), now: Date().timeIntervalSince1970)
        return .failed(.twilio(status: response.status, errorCode: code, message: message, retryAfter: retryAfter))
    }

    /// The shared transport is its owner's to shut down.
    public func shutdown() async {}
}
