import Foundation
import NotifyCore
import Testing

@testable import Providers

@Suite("FCM HTTP v1: service accounts, messages, error replies")
struct FCMTests {
    @Test("a service account's JSON key gives the project, account, key id and token URL; anything else is refused")
    func serviceAccount() throws {
        let json =
            #"{"type": "service_account", "project_id": "flowmart-prod", "private_key_id": "k1", "private_key": "PEM", "client_email": "n@p.iam.gserviceaccount.com"}"#
        let settings = try FCMSettings(serviceAccount: Array(json.utf8))
        #expect(settings.projectID == "flowmart-prod" && settings.privateKeyID == "k1")
        #expect(settings.tokenURL == "https://oauth2.googleapis.com/token")
        #expect(!settings.description.contains("PEM"), "the key never reaches a description")
        #expect(try FCMSettings(serviceAccount: Array(json.utf8), projectID: "other").projectID == "other")
        #expect(throws: ProviderSetupError.self) { try FCMSettings(serviceAccount: Array(#"{"type": "authorized_user"}"#.utf8)) }
        #expect(throws: ProviderSetupError.self) { try FCMSettings(serviceAccount: Array(json.utf8), projectID: "Bad/Project") }
    }

    @Test("the message: the device token, title and body, our ids as data, high priority on the high lane")
    func message() {
        let job = DeliveryJob(
            deliveryID: "d-1", notificationID: "n-1", userID: "u", channel: .push, lane: .high, transactional: true,
            content: MessageContent(subject: "Payment failed", text: "Try another card", html: nil))
        #expect(
            String(decoding: FCMProvider.message(job, token: "t-1").bytes, as: UTF8.self) == """
                {"message":{"token":"t-1","notification":{"title":"Payment failed","body":"Try another card"},\
                "data":{"deliveryId":"d-1","notificationId":"n-1"},"android":{"priority":"high"}}}
                """)
    }

    @Test("errors: UNREGISTERED ends the delivery and drops the token, QUOTA_EXCEEDED waits at least a minute, 401 retries")
    func errors() {
        func failure(_ status: Int, _ code: String?, retryAfter: String? = nil) -> DeliveryFailure {
            let details =
                code.map { #", "details": [{"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": "\#($0)"}]"# }
                ?? ""
            return FCMProvider.failure(
                HTTPTransport.Response(
                    status: status, headers: retryAfter.map { [("Retry-After", $0)] } ?? [],
                    body: Array(#"{"error": {"code": \#(status), "message": "m", "status": "S"\#(details)}}"#.utf8)))
        }
        #expect(failure(404, "UNREGISTERED").failureClass == .permanent && failure(404, "UNREGISTERED").unregistersToken)
        #expect(failure(403, "SENDER_ID_MISMATCH").unregistersToken)
        #expect(failure(400, "INVALID_ARGUMENT").failureClass == .permanent && !failure(400, "INVALID_ARGUMENT").unregistersToken)
        #expect(failure(429, "QUOTA_EXCEEDED").failureClass == .throttled && failure(429, "QUOTA_EXCEEDED").retryAfter == 60)
        #expect(failure(429, "QUOTA_EXCEEDED", retryAfter: "120").retryAfter == 120)
        #expect(failure(503, "UNAVAILABLE").failureClass == .transient)
        #expect(failure(401, nil).failureClass == .transient, "an expired access token: a new one next time")
        #expect(failure(401, "THIRD_PARTY_AUTH_ERROR").failureClass == .provider)
    }
}
