import AsyncHTTPClient
import Foundation
import NotifyCore

/// Push through FCM HTTP v1: one `POST /v1/projects/{project}/messages:send` per device token (FCM has no batch
/// endpoint since June 2024), authorised by the service account's access token (`GoogleAccessToken`), to every
/// `fcm` token of the recipient (`PushFanout`). Tokens FCM calls `UNREGISTERED` are removed from the recipient.
public struct FCMProvider: DeliveryProvider {
    public let channel = NotificationChannel.push
    public let name = "fcm"
    public let settings: FCMSettings
    let accessToken: GoogleAccessToken
    let fanout: PushFanout

    public init(
        settings: FCMSettings, transport: HTTPTransport,
        unregistered: @escaping @Sendable (_ job: DeliveryJob, _ tokens: [String]) async -> Void
    ) async throws(ProviderSetupError) {
        self.settings = settings
        fanout = PushFanout(platform: .fcm, transport: transport, timeout: settings.timeout, unregistered: unregistered)
        accessToken = try await GoogleAccessToken(settings: settings, transport: transport)
    }

    public var endpoint: String { settings.description }
    public var rateLimit: RateLimit? { settings.rateLimit }
    public var platform: PushToken.Platform? { .fcm }

    var sendURL: String { "\(settings.endpoint)/v1/projects/\(settings.projectID)/messages:send" }

    public func send(_ deliveries: [ClaimedDelivery]) async -> [DeliveryResult] {
        let bearer: String
        switch await accessToken.token() {
        case .success(let token): bearer = token
        case .failure(let failure): return deliveries.map { _ in .failed(failure) }
        }
        let headers = [("Authorization", "Bearer \(bearer)"), ("Content-Type", "application/json; charset=UTF-8")]
        let badURL = DeliveryFailure(code: "bad-url", .provider, detail: "fcm.endpoint is not a usable URL")
        return await fanout.send(deliveries) { delivery, token in
            HTTPTransport.post(sendURL, headers: headers, body: Self.message(delivery.job, token: token).bytes, orElse: badURL)
        } answer: { response in
            guard response.status == 200 else {
                if response.status == 401 { await accessToken.invalidate() }
                return .failure(Self.failure(response))
            }
            return .success((try? JSONInput().object(from: response.body))?["name"] as? String ?? "fcm")
        }
    }

    /// `{message: {token, notification: {title, body}, data: {deliveryId, notificationId}, android: {priority}}}`.
    static func message(_ job: DeliveryJob, token: String) -> JSONValue {
        .object([
            (
                "message",
                .object([
                    ("token", .string(token)),
                    ("notification", .object([("title", .string(job.content.subject)), ("body", .string(job.content.text))])),
                    ("data", .object([("deliveryId", .string(job.deliveryID)), ("notificationId", .string(job.notificationID))])),
                    ("android", .object([("priority", .string(job.lane == .high ? "high" : "normal"))])),
                ])
            )
        ])
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
