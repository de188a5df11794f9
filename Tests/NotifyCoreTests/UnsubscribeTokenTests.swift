import Foundation
import Testing

@testable import NotifyCore

@Suite("One-click unsubscribe tokens: signed, verified in constant time, rotated, unforgeable")
struct UnsubscribeTokenTests {
    static let current = String(repeating: "c", count: 32)
    static let previous = String(repeating: "p", count: 32)

    static func job(
        transactional: Bool = false, tenant: Tenant? = Tenant(productID: UUID(), organizationID: UUID()),
        category: String? = "NEWSLETTER"
    ) -> DeliveryJob {
        DeliveryJob(
            deliveryID: "d", notificationID: "n", userID: "user\nwith odd.chars", channel: .email, lane: .low,
            transactional: transactional, content: MessageContent(subject: "s", text: "t", html: nil), tenant: tenant, category: category)
    }

    @Test("a token names the tenant, user, channel and category; the previous secret still verifies; anything else does not")
    func roundTrip() throws {
        let signer = try #require(UnsubscribeSigner(secrets: [Self.current]))
        let job = Self.job()
        let token = try #require(signer.token(for: job))
        #expect(token.hasPrefix("u1.") && token.allSatisfy { $0.isLetter || $0.isNumber || "._-".contains($0) }, "safe in a URL as it is")
        let read = try #require(signer.verify(token))
        #expect(read.tenant == job.tenant && read.userID == job.userID && read.channel == .email && read.category == "NEWSLETTER")

        let rotated = try #require(UnsubscribeSigner(secrets: [String(repeating: "n", count: 32), Self.current]))
        #expect(rotated.verify(token) == read, "a link signed before a rotation still works")
        #expect(UnsubscribeSigner(secrets: [Self.previous])?.verify(token) == nil)
        var tampered = Array(token)
        tampered[5] = tampered[5] == "A" ? "B" : "A"
        #expect(signer.verify(String(tampered)) == nil)
        #expect(signer.verify("u1.x") == nil && signer.verify("") == nil && signer.verify(token + "x") == nil)
        #expect(signer.verify(String(repeating: "u1.", count: 500)) == nil)
    }

    @Test("transactional mail has no token; FlowMart's own mail opts out of every category")
    func kinds() throws {
        let signer = try #require(UnsubscribeSigner(secrets: [Self.current]))
        #expect(signer.token(for: Self.job(transactional: true)) == nil)
        let text = try #require(signer.token(for: Self.job(tenant: nil, category: nil)))
        let flowMart = try #require(signer.verify(text))
        #expect(flowMart.tenant == nil && flowMart.optOut == OptOut(channel: .email) && flowMart.tenant.namespace == Tenant.flowMart)
        #expect(UnsubscribeSigner(secrets: []) == nil)
    }
}
