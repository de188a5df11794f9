import AsyncHTTPClient
import Foundation
import NotifyCore

/// Push through FCM HTTP v1: one `POST /v1/projects/{project}/messages:send` per device token (FCM has no batch
/// endpoint since June 2024), authorised by the service account's access token (`GoogleAccessToken`). A delivery
/// goes to every `fcm` token of its recipient and is sent when one device took it (the others are not tried
/// again, so no device sees it twice). Tokens FCM calls `UNREGISTERED` are handed to `unregistered`, which removes
/// them from the recipient.
public struct FCMProvider: DeliveryProvider {
    public let channel = NotificationChannel.push
    public let name = "fcm"
    public let settings: FCMSettings
    let transport: HTTPTransport
    let accessToken: GoogleAccessToken
    let unregistered: @Sendable (_ userID: String, _ tokens: [String]) async -> Void

    public init(
        settings: FCMSettings, transport: HTTPTransport,
        unregistered: @escaping @Sendable (_ userID: String, _ tokens: [String]) async -> Void
    ) async throws(ProviderSetupError) {
        self.settings = settings
        self.transport = transport
        self.unregistered = unregistered
        accessToken = try await GoogleAccessToken(settings: settings, transport: transport)
    }

    public var endpoint: String { settings.description }
    public var rateLimit: RateLimit? { settings.rateLimit }

    var sendURL: String { "\(settings.endpoint)/v1/projects/\(settings.projectID)/messages:send" }

    public func send(_ deliveries: [ClaimedDelivery]) async -> [DeliveryResult] {
        let bearer: String
        switch await accessToken.token() {
        case .success(let token): bearer = token
        case .failure(let failure): return deliveries.map { _ in .failed(failure) }
        }
        // One request per token, in delivery order.
        var requests: [HTTPClient.Request] = []
        var tokens: [[String]] = []
        for delivery in deliveries {
            let own = PushToken.list(json: delivery.address).filter { $0.platform == .fcm }.map(\.token)
            tokens.append(own)
            for token in own {
                guard var request = try? HTTPClient.Request(url: sendURL, method: .POST) else { continue }
                request.headers.add(name: "Authorization", value: "Bearer \(bearer)")
                request.headers.add(name: "Content-Type", value: "application/json; charset=UTF-8")
                request.body = .bytes(Self.message(delivery.job, token: token).bytes)
                requests.append(request)
            }
        }
        guard requests.count == tokens.joined().count else {
            return deliveries.map { _ in .failed(DeliveryFailure(code: "bad-url", .provider, detail: "fcm.endpoint is not a usable URL")) }
        }
        var answers = await transport.execute(requests, timeout: settings.timeout)[...]
        var results: [DeliveryResult] = []
        for (delivery, own) in zip(deliveries, tokens) {
            guard !own.isEmpty else {
                results.append(.failed(DeliveryFailure(code: "no-token", .permanent, detail: "the recipient has no FCM push token")))
                continue
            }
            var sent: String?
            var failures: [DeliveryFailure] = []
            var stale: [String] = []
            for token in own {
                switch answers.popFirst()! {
                case .success(let response) where response.status == 200:
                    let name = (try? JSONInput().object(from: response.body))?["name"] as? String
                    sent = sent ?? name ?? "fcm"
                case .success(let response):
                    let failure = Self.failure(response)
                    if failure.unregistersToken { stale.append(token) }
                    if response.status == 401 { await accessToken.invalidate() }
                    failures.append(failure)
                case .failure(let failure):
                    failures.append(failure)
                }
            }
            if !stale.isEmpty { await unregistered(delivery.job.userID, stale) }
            if let sent {
                results.append(.sent(providerMessageID: sent))
            } else {
                // Worth another try if any device's failure was; otherwise the first reason.
                results.append(.failed(failures.first { $0.failureClass != .permanent } ?? failures[0]))
            }
        }
        return results
    }

    /// `{message: {token, notification: {title, body}, data: {deliveryId, notificationId}, android: {priority}}}`.
    static func message(_ job: DeliveryJob, token: String) -> JSONValue {
        .object([("message", .object([
            ("token", .string(token)),
            ("notification", .object([("title", .string(job.content.subject)), ("body", .string(job.content.text))])),
            ("data", .object([("deliveryId", .string(job.deliveryID)), ("notificationId", .string(job.notificationID))])),
            ("android", .object([("priority", .string(job.lane == .high ? "high" : "normal"))])),
        ]))])
    }

    /// `{error: {code, message, status, details: [{@type: …FcmError, errorCode}]}}`.
    static func failure(_ response: HTTPTransport.Response) -> DeliveryFailure {
        let error = (try? JSONInput().object(from: response.body))?["error"] as? [String: Any]
        let details = error?["details"] as? [[String: Any]] ?? []
        let code = details.compactMap { $0["errorCode"] as? String }.first ?? error?["status"] as? String
        let message = error?["message"] as? String ?? "no error message"
        let retryAfter = RetryAfter.seconds(response.header("Retry-After"), now: Date().timeIntervalSince1970)
        return .fcm(status: response.status, errorCode: code, message: message, retryAfter: retryAfter)
    }

    /// The shared transport is its owner's to shut down.
    public func shutdown() async {}
}
