import AsyncHTTPClient
import Foundation
import NotifyCore

/// Webhooks as a channel: each delivery is posted to its recipient's endpoint as
/// `{type, timestamp, data: {deliveryId, notificationId, userId, lane, subject, text}}`, signed by Standard Webhooks
/// (`webhook-id` = the delivery id, the same on every attempt, so a receiver drops repeats; `webhook-timestamp`;
/// `webhook-signature` with every secret of the endpoint). Only 2xx is success; 410 Gone ends the delivery and
/// disables the endpoint (`disabled`); anything else is retried through the tiers. Each batch resolves each
/// endpoint's host once, checks every address against `EgressPolicy` (no special-purpose address; loopback and
/// private networks only when allowed), and connects to the first of them, that one and no other
/// (`HTTPTransport.execute(_:timeout:connectingTo:)`): the HTTP client never resolves the name again.
/// Failures are the endpoint's, not the service's: this provider has no breaker.
public struct WebhookProvider: DeliveryProvider {
    public let channel = NotificationChannel.webhook
    public let name = "webhook"
    public let usesBreaker = false
    public let policy: EgressPolicy
    public let timeout: Duration
    public let rateLimit: RateLimit?
    let transport: HTTPTransport
    let resolve: HostResolver.Resolve
    let disabled: @Sendable (_ job: DeliveryJob, _ url: String, _ reason: String) async -> Void

    /// - Parameter resolve: the system's resolver unless a test plays DNS.
    public init(
        policy: EgressPolicy, timeout: Duration, rateLimit: RateLimit?, transport: HTTPTransport,
        resolve: @escaping HostResolver.Resolve = HostResolver.addresses(of:),
        disabled: @escaping @Sendable (_ job: DeliveryJob, _ url: String, _ reason: String) async -> Void
    ) {
        self.policy = policy
        self.timeout = timeout
        self.rateLimit = rateLimit
        self.transport = transport
        self.resolve = resolve
        self.disabled = disabled
    }

    public var endpoint: String { "recipients' endpoints" }

    public func send(_ deliveries: [ClaimedDelivery]) async -> [DeliveryResult] {
        let now = Date()
        let timestamp = Int(now.timeIntervalSince1970)
        let badEndpoint = DeliveryFailure(code: "webhook-bad-endpoint", .permanent, detail: "the endpoint is not a usable URL")
        var destinations: [String: Result<String, DeliveryFailure>] = [:]  // host → the checked address, once per batch
        var planned: [Result<HTTPClient.Request, DeliveryFailure>] = []
        var endpoints: [WebhookEndpoint?] = []
        for delivery in deliveries {
            let endpoint = WebhookEndpoint.parse(stored: delivery.address)
            endpoints.append(endpoint)
            guard let endpoint else {
                planned.append(.failure(badEndpoint))
                continue
            }
            let body = Self.payload(delivery.job, at: now)
            let request = HTTPTransport.post(
                endpoint.url,
                headers: [
                    ("Content-Type", "application/json"), ("User-Agent", "FlowMart-Notify/1"), ("webhook-id", delivery.job.deliveryID),
                    ("webhook-timestamp", String(timestamp)),
                    (
                        "webhook-signature",
                        StandardWebhookSigner.signature(
                            id: delivery.job.deliveryID, timestamp: timestamp, body: body, secrets: endpoint.secrets)
                    ),
                ], body: body, orElse: badEndpoint)
            guard case .success(let built) = request else {
                planned.append(request)
                continue
            }
            let checked: Result<String, DeliveryFailure>
            if let known = destinations[built.host] {
                checked = known
            } else {
                checked = await destination(built.host)
                destinations[built.host] = checked
            }
            planned.append(checked.map { _ in built })
        }
        // IP literals are connected to as they are; a name only through the address checked for it.
        let addresses = destinations.compactMapValues { try? $0.get() }.filter { !HTTPTransport.isIPAddress($0.key) }
        let answers = await transport.execute(planned, timeout: timeout, connectingTo: addresses)
        var results: [DeliveryResult] = []
        for ((delivery, endpoint), answer) in zip(zip(deliveries, endpoints), answers) {
            switch answer {
            case .success(let response) where (200...299).contains(response.status):
                results.append(.sent(providerMessageID: delivery.job.deliveryID))
            case .success(let response) where response.status == 410:
                if let endpoint { await disabled(delivery.job, endpoint.url, "410 Gone") }
                results.append(
                    .failed(DeliveryFailure(code: "webhook-gone", .permanent, detail: "HTTP 410: the endpoint is gone; disabled")))
            case .success(let response):
                results.append(
                    .failed(
                        DeliveryFailure(code: "http-\(response.status)", .transient, detail: "HTTP \(response.status) from the endpoint")))
            case .failure(let failure):
                // Unreachable or refusing TLS is this endpoint's trouble, not every endpoint's: retried, never held.
                results.append(
                    .failed(
                        DeliveryFailure(
                            code: failure.code, failure.failureClass == .permanent ? .permanent : .transient, detail: failure.detail)))
            }
        }
        return results
    }

    /// The address a request to `host` connects to: the first it resolves to, once every address it resolves to
    /// passed the policy; or why it may not be sent to.
    func destination(_ host: String) async -> Result<String, DeliveryFailure> {
        func refused(_ reason: String) -> Result<String, DeliveryFailure> {
            .failure(DeliveryFailure(code: "webhook-address-refused", .permanent, detail: "the endpoint's host resolves to \(reason)"))
        }
        guard let addresses = try? await resolve(host), let first = addresses.first else {
            return refused("no address (it does not resolve)")
        }
        if let reason = addresses.lazy.compactMap({ policy.refusal($0) }).first { return refused(reason) }
        return HTTPTransport.text(ofAddress: first).map { .success($0) } ?? refused("not an IP address")
    }

    static func payload(_ job: DeliveryJob, at date: Date) -> [UInt8] {
        JSONValue.object([
            ("type", .string("notification.created")), ("timestamp", .string(RFC3339.string(from: date))),
            (
                "data",
                .object([
                    ("deliveryId", .string(job.deliveryID)), ("notificationId", .string(job.notificationID)),
                    ("userId", .string(job.userID)),
                    ("lane", .string(job.lane.rawValue)), ("subject", .string(job.content.subject)), ("text", .string(job.content.text)),
                ])
            ),
        ]).bytes
    }

    /// The shared transport is its owner's to shut down.
    public func shutdown() async {}
}
