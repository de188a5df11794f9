import Foundation
import NotifyCore
import Testing

/// An idempotency key is free again once its window has passed; the request that used it, and its pending deliveries,
/// are not touched by that.
@Suite("Idempotency keys reused after their window: the first request stays, with its pending deliveries", .needsStack, .serialized)
struct IdempotencyReuseTests {
    @Test("a key reused after its window: a new request; the first one stays, its scheduled delivery can still be cancelled")
    func reusedAfterWindow() async throws {
        let service = try await SendTests.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let user = "reuse-\(service.id)"
        #expect(
            try await service.call("UpsertRecipient", ["userId": user, "email": "\(user)@example.com"], as: .key(shop.productKey)).status
                == 200)
        let at = RFC3339.string(from: Date().addingTimeInterval(3_600))
        func send(_ title: String) async throws -> ServiceHarness.Reply {
            try await service.call(
                "SendNotification",
                [
                    "channel": "email", "messageCategory": "NEWSLETTER", "recipient": ["userId": user], "idempotencyKey": "weekly",
                    "content": ["title": title, "body": "b"], "scheduledAt": at,
                ], as: .key(shop.productKey))
        }
        let first = try await send("Week 1")
        #expect(first.status == 202, "\(first.raw)")
        let firstID = try #require(first.body["requestId"] as? String)
        // The window passes (the daemon's clock is the database's).
        try await service.db.withConnection { _ = try $0.query("UPDATE send_requests SET created_at = now() - interval '30 days'") }

        let second = try await send("Week 2")
        #expect(second.status == 202, "a key past its window is free: \(second.raw)")
        let secondID = try #require(second.body["requestId"] as? String)
        #expect(secondID != firstID)
        #expect(try await send("Week 2").status == 208, "and taken again by the new request")

        let stored = try await service.db.withConnection { db in
            try db.query("SELECT id::text, idempotency_key FROM send_requests ORDER BY created_at").map {
                (try $0.decode(0, as: String.self), try $0.decodeIfPresent(1, as: String.self))
            }
        }
        #expect(stored.map(\.0) == [firstID, secondID] && stored.map(\.1) == [nil, "weekly"], "the first request kept, its key released")
        let cancelled = try await service.call("CancelRequest", ["requestId": firstID], as: .key(shop.productKey))
        #expect(cancelled.status == 200 && cancelled.body["cancelled"] as? Int == 1, "\(cancelled.raw)")
    }
}
