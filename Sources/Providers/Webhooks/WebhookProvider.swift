import AsyncHTTPClient
import Foundation
import NotifyCore

/// Webhooks as a channel: each delivery is posted to its recipient's endpoint as
/// `{type, timestamp, data: {deliveryId, notificationId, userId, lane, subject, text}}`, signed by Standard Webhooks
/// (`webhook-id` = the delivery id, the same on every attempt, so a receiver drops repeats; `webhook-timestamp`;
/// `webhook-signature` with every secret of the endpoint). Only 2xx is success; 410 Gone ends the delivery and
/// disables the endpoint (`disabled`); anything else is retried through the tiers. Before each send every address
/// the endpoint's host resolves to is checked against `EgressPolicy` (no loopback, private or link-local
/// networks unless allowed). Failures are the endpoint's, not the service's: this provider has no breaker.
public struct WebhookProvider: DeliveryProvider {
    public let channel = NotificationChannel.webhook
    public let name = "webhook"
    public let usesBreaker = false
    public let policy: EgressPolicy
    public let timeout: Duration
    public let rateLimit: RateLimit?
    let transport: HTTPTransport
    let disabled: @Sendable (_ job: DeliveryJob, _ url: String, _ reason: String) async -> Void

    public init(
        policy: EgressPolicy, timeout: Duration, rateLimit: RateLimit?, transport: HTTPTransport,
        disabled: @escaping @Sendable (_ job: DeliveryJob, _ url: String, _ reason: String) async -> Void
    ) {
        self.policy = policy
        self.timeout = timeout
        self.rateLimit = rateLimit
        self.transport = transport
        self.disabled = disabled
    }

    public var endpoint: String { "recipients' endpoints" }

    public func send(_ deliveries: [ClaimedDelivery]) async -> [DeliveryResult] {
        let now = Date()
        let timestamp = Int(now.timeIntervalSince1970)
        let badEndpoint = DeliveryFailure(code: "webhook-bad-endpoint", .permanent, detail: "the endpoint is not a usable URL")
        var refusals: [String: String?] = [:]  // host → why it is refused (nil: allowed), once per batch
        var planned: [Result<HTTPClient.Request, DeliveryFailure>] = []
        var endpoints: [WebhookEndpoint?] = []
        for delivery in deliveries {
            let endpoint = WebhookEndpoint.parse(stored: delivery.address)
            endpoints.append(endpoint)
            guard let endpoint, let host = URL(string: endpoint.url)?.host else {
                planned.append(.failure(badEndpoint))
                continue
            }
            if refusals[host] == nil { refusals[host] = .some(await refusal(host)) }
            if let reason = refusals[host] ?? nil {
                planned.append(.failure(DeliveryFailure(
                    code: "webhook-address-refused", .permanent, detail: "the endpoint's host resolves to \(reason)")))
                continue
            }
            let body = Self.payload(delivery.job, at: now)
            planned.append(HTTPTransport.post(endpoint.url, headers: [
                ("Content-Type", "application/json"), ("User-Agent", "FlowMart-Notify/1"), ("webhook-id", delivery.job.deliveryID),
                ("webhook-timestamp", String(timestamp)),
                ("webhook-signature", StandardWebhookSigner.signature(
                    id: delivery.job.deliveryID, timestamp: timestamp, body: body, secrets: endpoint.secrets)),
            ], body: body, orElse: badEndpoint))
        }
        var results: [DeliveryResult] = []
        for ((delivery, endpoint), answer) in zip(zip(deliveries, endpoints), await transport.execute(planned, timeout: timeout)) {
            switch answer {
            case .success(let response) where (200...299).contains(response.status):
                results.append(.sent(providerMessageID: delivery.job.deliveryID))
            case .success(let response) where response.status == 410:
                if let endpoint { await disabled(delivery.job, endpoint.url, "410 Gone") }
                results.append(.failed(DeliveryFailure(code: "webhook-gone", .permanent, detail: "HTTP 410: the endpoint is gone; disabled")))
            case .success(let response):
                results.append(.failed(DeliveryFailure(code: "http-\(response.status)", .transient, detail: "HTTP \(response.status) from the endpoint")))
            case .failure(let failure):
                // Unreachable or refusing TLS is this endpoint's trouble, not every endpoint's: retried, never held.
                results.append(.failed(DeliveryFailure(
                    code: failure.code, failure.failureClass == .permanent ? .permanent : .transient, detail: failure.detail)))
            }
        }
        return results
    }

    /// Why `host` may not be sent to (the first address of it the policy refuses), or nil.
    func refusal(_ host: String) async -> String? {
        guard let addresses = try? await HostResolver.addresses(of: host), !addresses.isEmpty else { return "no address (it does not resolve)" }
        return addresses.lazy.compactMap { policy.refusal($0) }.first
    }

    static func payload(_ job: DeliveryJob, at date: Date) -> [UInt8] {
        JSONValue.object([
            ("type", .string("notification.created")), ("timestamp", .string(RFC3339.string(from: date))),
            ("data", .object([
                ("deliveryId", .string(job.deliveryID)), ("notificationId", .string(job.notificationID)), ("userId", .string(job.userID)),
                ("lane", .string(job.lane.rawValue)), ("subject", .string(job.content.subject)), ("text", .string(job.content.text)),
            ])),
        ]).bytes
    }

    /// The shared transport is its owner's to shut down.
    public func shutdown() async {}
}
