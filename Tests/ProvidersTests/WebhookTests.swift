import Foundation
import NotifyCore
import Testing
@testable import Providers

@Suite("Webhooks: Standard Webhooks signatures, endpoints, the egress policy")
struct WebhookTests {
    static let secrets = ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]

    @Test("the signature the standardwebhooks package computes, one per secret")
    func signature() {
        // standardwebhooks: Webhook(secret).sign(id, datetime.fromtimestamp(1796354100, utc), body) for each secret.
        #expect(StandardWebhookSigner.signature(
            id: "0b9c4b4e-6a57-4a44-9d8f-1f5b0c1f3a11", timestamp: 1_796_354_100, body: Array(#"{"type":"notification.created"}"#.utf8),
            secrets: Self.secrets) == "v1,hNX5Qqiny6wKA8wDwa5ACHPcGqDYwXaBAzkAS2eeAyI= v1,1iQb+E8mrjlbAaF5slk4koLXvFsLRVaYwtSto3byP8Y=")
    }

    @Test("an endpoint: an http(s) URL without credentials and 1 to 3 whsec_ secrets of 24 to 64 bytes; replies never show one")
    func endpoint() throws {
        func upsert(_ webhook: String) throws(RPCFailure) -> UpsertRecipient {
            try UpsertRecipient(body: Array(#"{"userId": "u", "webhook": \#(webhook)}"#.utf8))
        }
        let accepted = try upsert(#"{"url": "https://hooks.example.com/in", "secrets": ["\#(Self.secrets[0])"]}"#)
        guard case .set(let endpoint) = accepted.webhook else { Issue.record("no endpoint"); return }
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
            #expect(throws: RPCFailure.self) { try upsert(refused) }
        }
        if case .clear = try UpsertRecipient(body: Array(#"{"userId": "u", "webhook": null}"#.utf8)).webhook {} else {
            Issue.record("null clears the endpoint")
        }
    }

    @Test("egress: public addresses pass; loopback and private networks only when allowed; link-local and multicast never")
    func egress() {
        let strict = EgressPolicy()
        let open = EgressPolicy(allowLoopback: true, allowPrivateNetworks: true)
        #expect(strict.refusal([93, 184, 216, 34]) == nil)
        #expect(strict.refusal([127, 0, 0, 1]) == "loopback" && open.refusal([127, 0, 0, 1]) == nil)
        for address: [UInt8] in [[10, 1, 2, 3], [172, 16, 0, 1], [172, 31, 255, 255], [192, 168, 1, 1], [100, 64, 0, 1]] {
            #expect(strict.refusal(address) == "private network" && open.refusal(address) == nil, "\(address)")
        }
        #expect(strict.refusal([172, 32, 0, 1]) == nil)
        #expect(open.refusal([169, 254, 169, 254]) == "link-local", "cloud metadata, whatever the settings")
        #expect(open.refusal([0, 0, 0, 0]) != nil && open.refusal([224, 0, 0, 1]) != nil)
        let loopback6 = [UInt8](repeating: 0, count: 15) + [1]
        #expect(strict.refusal(loopback6) == "loopback")
        #expect(strict.refusal([0xFE, 0x80] + [UInt8](repeating: 0, count: 14)) == "link-local")
        #expect(strict.refusal([0xFD, 0x12] + [UInt8](repeating: 0, count: 14)) == "private network")
        let mapped = [UInt8](repeating: 0, count: 10) + [0xFF, 0xFF, 127, 0, 0, 1]
        #expect(strict.refusal(mapped) == "loopback", "IPv4-mapped IPv6 is judged as IPv4")
        #expect(strict.refusal([0x26, 0x06, 0x28, 0x00] + [UInt8](repeating: 1, count: 12)) == nil)
    }
}
