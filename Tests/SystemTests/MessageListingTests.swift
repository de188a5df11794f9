import Foundation
import NotifyCore
import Postgres
import StackSupport
import Testing

@testable import NotifyStore

/// What one `ListMessages` call may cost the query pool it shares with every RPC: an organisation's listing reads
/// only its own rows, however many its product has, and no listing runs longer than its bound.
@Suite("ListMessages is bounded: an organisation reads its own rows only, and no call runs past 5 s", .needsStack, .serialized)
struct MessageListingTests {
    @Test("an organisation's listing reads through the organisation indexes, not every row of its busy product")
    func organisationReadsItsOwnRows() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let (product, quiet, busy) = (
            try #require(UUID(uuidString: shop.productID)), try #require(UUID(uuidString: shop.organizations[0].id)),
            try #require(UUID(uuidString: shop.organizations[1].id))
        )
        // The busy organisation: 20,000 deliveries and 20,000 in-app notifications of the same product.
        try await service.db.withConnection { db in
            try db.execute(
                """
                INSERT INTO deliveries (id, notification_id, user_id, channel, status, product_id, organization_id, created_at, updated_at)
                SELECT gen_random_uuid(), gen_random_uuid(), 'bulk-' || i, 'email', 'delivered', \(product), \(busy),
                       now() - i * interval '1 ms', now()
                FROM generate_series(1, 20000) i
                """)
            try db.execute(
                """
                INSERT INTO notifications (user_id, type, priority, channels, title, message, source_event_key, product_id,
                                           organization_id, created_at)
                SELECT 'bulk-' || i, 'NEWSLETTER', 'normal', ARRAY['in-app'], 'News', 'b', 'bulk-' || i, \(product), \(busy),
                       now() - i * interval '1 ms'
                FROM generate_series(1, 20000) i
                """)
            try db.execute(script: "ANALYZE deliveries; ANALYZE notifications")
        }
        // The quiet organisation sends three in-app messages.
        let sent = try await service.call(
            "SendBatch",
            [
                "channel": "in-app", "message_category": "NEWSLETTER", "recipients": (0..<3).map { ["userId": "quiet-\($0)"] },
                "content": ["title": "Quiet", "body": "b"],
            ], as: .key(shop.organizations[0].key))
        #expect(sent.status == 202, "\(sent.raw)")

        let listed = try await service.call("ListMessages", [:], as: .key(shop.organizations[0].key))
        #expect(listed.body["totalItems"] as? Int == 3 && listed.body["totalItemsExact"] as? Bool == true, "\(listed.raw)")

        // The plan of that very statement, for the quiet organisation's key.
        let statement = DeliveryStore.messagesStatement(
            try ListMessages(body: Array("{}".utf8)), visibility: .tenant(Tenant(productID: product, organizationID: quiet)))
        let plan = try await service.db.withConnection { db in
            try db.query(PGQuery(unsafeSQL: "EXPLAIN (FORMAT JSON) " + statement.sql, parameters: statement.parameters))[0].decode(
                0, as: String.self)
        }
        #expect(plan.contains("\"deliveries_by_organization\"") && plan.contains("\"notifications_in_app_by_organization\""), "\(plan)")
        #expect(!plan.contains("\"deliveries_by_tenant\"") && !plan.contains("Seq Scan"), "\(plan)")
    }

    @Test("a listing that runs past its bound is cancelled at 5 s with 503 query-timeout, freeing its connection")
    func boundedInTime() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let key = shop.organizations[0].key
        let started = ContinuousClock.now
        // A lock nothing can read past stands in for a listing that takes too long. It is held until the listing is
        // answered or 10 s pass: past the bound, and short of the connection's own statement_timeout (15 s).
        let (answered, signal) = AsyncStream.makeStream(of: Never.self)
        let listing = try await service.db.transaction(spanning: { hold in
            _ = try await hold.run { try $0.execute("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE") }
            let listing = Task {
                defer { signal.finish() }
                let reply = try await service.call("ListMessages", [:], as: .key(key), timeout: .seconds(30))
                return (status: reply.status, code: TenantTests.code(reply))
            }
            await withTaskGroup(of: Void.self) { group in
                group.addTask { for await _ in answered {} }
                group.addTask { try? await Task.sleep(for: .seconds(10)) }
                await group.next()
                group.cancelAll()
            }
            return listing
        })
        let reply = try await listing.value
        let elapsed = ContinuousClock.now - started
        #expect(reply.status == 503 && reply.code == "query-timeout", "\(reply)")
        #expect(elapsed >= .milliseconds(4_500) && elapsed < .seconds(9), "answered after \(elapsed)")
        // The connection it held is free again: the next listing is answered at once.
        #expect(try await service.call("ListMessages", [:], as: .key(key)).status == 200)
    }
}
