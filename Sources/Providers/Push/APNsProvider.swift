import AsyncHTTPClient
import Foundation
import NotifyCore

/// Push through APNs' provider API: one HTTP/2 `POST /3/device/{token}` per device token (HTTP/2 over TLS is
/// negotiated by ALPN; APNs speaks nothing else), authorised by the shared provider token (`APNsProviderToken`),
/// to every `apns` token of the recipient (`PushFanout`). Every attempt of a delivery carries the same `apns-id`
/// (the delivery id) and `apns-collapse-id` (the notification id), so a repeated send is recognisable and a
/// device shows it once. Tokens APNs answers 410 for are removed from the recipient.
public struct APNsProvider: DeliveryProvider {
    public let channel = NotificationChannel.push
    public let name = "apns"
    public let settings: APNsSettings
    let providerToken: APNsProviderToken
    let fanout: PushFanout

    /// An alert's payload may be at most 4 KiB.
    static let maxPayloadBytes = 4096

    public init(
        settings: APNsSettings, transport: HTTPTransport,
        unregistered: @escaping @Sendable (_ job: DeliveryJob, _ tokens: [String]) async -> Void
    ) async throws(ProviderSetupError) {
        self.settings = settings
        providerToken = try await APNsProviderToken(settings: settings)
        fanout = PushFanout(platform: .apns, transport: transport, timeout: settings.timeout, unregistered: unregistered)
    }

    public var endpoint: String { settings.description }
    public var rateLimit: RateLimit? { settings.rateLimit }
    public var platform: PushToken.Platform? { .apns }

    public func send(_ deliveries: [ClaimedDelivery]) async -> [DeliveryResult] {
        let bearer: String
        switch await providerToken.token() {
        case .success(let token): bearer = token
        case .failure(let failure): return deliveries.map { _ in .failed(failure) }
        }
        let expiration = settings.expirationSeconds == 0 ? 0 : Int(Date().timeIntervalSince1970) + settings.expirationSeconds
        let badURL = DeliveryFailure(code: "bad-url", .provider, detail: "apns.endpoint is not a usable URL")
        return await fanout.send(deliveries) { delivery, token in
            guard token.utf8.allSatisfy({ Self.isHex($0) }) else {
                return .failure(DeliveryFailure(code: "apns-BadDeviceToken", .permanent, detail: "an APNs device token is hexadecimal"))
            }
            return HTTPTransport.post(
                "\(settings.endpoint)/3/device/\(token)",
                headers: Self.headers(delivery.job, bearer: bearer, topic: settings.topic, expiration: expiration),
                body: Self.payload(delivery.job), orElse: badURL)
        } answer: { response in
            guard response.status == 200 else {
                let reason = (try? JSONInput().object(from: response.body))?["reason"] as? String
                if reason == "ExpiredProviderToken" { await providerToken.expired(bearer) }
                let retryAfter = RetryAfter.seconds(response.header("Retry-After"), now: Date().timeIntervalSince1970)
                return .failure(.apns(status: response.status, reason: reason, retryAfter: retryAfter))
            }
            return .success(response.header("apns-id") ?? "apns")
        }
    }

    static func isHex(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) || (0x41...0x46).contains(byte)
    }

    /// `apns-push-type: alert`; priority 10 (at once) for the high lane, 5 (as the device's power allows) for the
    /// others; `apns-id` only when the delivery id is a UUID, as APNs wants it.
    static func headers(_ job: DeliveryJob, bearer: String, topic: String, expiration: Int) -> [(String, String)] {
        var headers = [
            ("authorization", "bearer \(bearer)"), ("apns-topic", topic), ("apns-push-type", "alert"),
            ("apns-priority", job.lane == .high ? "10" : "5"), ("apns-expiration", String(expiration)),
            ("content-type", "application/json"),
        ]
        if UUID(uuidString: job.deliveryID) != nil { headers.append(("apns-id", job.deliveryID)) }
        if job.notificationID.utf8.count <= 64 { headers.append(("apns-collapse-id", job.notificationID)) }
        return headers
    }

    /// `{aps: {alert: {title, body}, sound: default}, deliveryId, notificationId}`, the body shortened (on a
    /// character boundary, with an ellipsis) until the payload fits APNs' 4 KiB.
    static func payload(_ job: DeliveryJob) -> [UInt8] {
        var text = Substring(job.content.text)
        var title = Substring(job.content.subject.prefix(256))
        while true {
            let shortened = text.count < job.content.text.count ? text + "…" : String(text)
            let body = JSONValue.object([
                (
                    "aps",
                    .object([
                        ("alert", .object([("title", .string(String(title))), ("body", .string(shortened))])),
                        ("sound", .string("default")),
                    ])
                ),
                ("deliveryId", .string(job.deliveryID)), ("notificationId", .string(job.notificationID)),
            ]).bytes
            if body.count <= maxPayloadBytes || (text.isEmpty && title.isEmpty) { return body }
            if text.isEmpty { title = title.prefix(title.count / 2) } else { text = text.prefix(text.count * 3 / 4) }
        }
    }

    /// The shared transport is its owner's to shut down.
    public func shutdown() async {}
}
