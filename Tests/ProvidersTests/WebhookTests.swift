import Foundation
import NotifyCore
import Testing

@testable import Providers

@Suite("Webhooks: Standard Webhooks signatures, endpoints")
struct WebhookTests {
    static let secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]

    @Test("the signature the standardwebhooks package computes, one per secret")
    func signature() {
        // standardwebhooks: Webhook(secret).sign(id, datetime.fromtimestamp(1796354100, utc), body) for each secret.
        #expect(
            StandardWebhookSigner.signature(
                id: "0b9c4b4e-6a57-4a44-9d8f-1f5b0c1f3a11", timestamp: 1_796_354_100, body: Array(#"{"type":"notification.created"}"#.utf8),
                secrets: Self.secrets) == "v1,hNX5Qqiny6wKA8wDwa5ACHPcGqDYwXaBAzkAS2eeAyI= v1,1iQb+E8mrjlbAaF5slk4koLXvFsLRVaYwtSto3byP8Y=")
    }

    @Test("an endpoint: an http(s) URL without credentials and 1 to 3 whsec_ secrets of 24 to 64 bytes; replies never show one")
    func endpoint() throws {
        func upsert(_ webhook: String) throws(CommandFailure) -> UpsertRecipient {
            try UpsertRecipient(body: Array(#"{"userId": "u", "webhook": \#(webhook)}"#.utf8))
        }
        let accepted = try upsert(#"{"url": "https://hooks.example.com/in", "secrets": ["\#(Self.secrets[0])"]}"#)
        guard case .set(let endpoint) = accepted.webhook else {
            Issue.record("no endpoint")
            return
        }
        #expect(endpoint.url == "https://hooks.example.com/in")
        #expect(!String(decoding: endpoint.body.bytes, as: UTF8.self).contains("whsec_"))
        #expect(WebhookEndpoint.parse(stored: String(decoding: endpoint.stored.bytes, as: UTF8.self)) == endpoint)
        for refused in [
            #"{"url": "ftp://hooks.example.com", "secrets": ["\#(Self.secrets[0])"]}"#,
            #"{"url": "https://user:pw@hooks.example.com", "secrets": ["\#(Self.secrets[0])"]}"#,
            #"{"url": "https://hooks.example.com", "secrets": []}"#,
            #"{"url": "https://hooks.example.com", "secrets": ["whsec_c2hvcnQ="]}"#,
            #"{"url": "https://hooks.example.com", "secrets": ["not-a-secret"]}"#,
        ] {
            #expect(throws: CommandFailure.self) { try upsert(refused) }
        }
        if case .clear = try UpsertRecipient(body: Array(#"{"userId": "u", "webhook": null}"#.utf8)).webhook {
        } else {
            Issue.record("null clears the endpoint")
        }
    }
}
