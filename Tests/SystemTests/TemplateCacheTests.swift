import Foundation
import Testing

@testable import notifyd

/// The send path's cache of compiled templates holds at most its bytes, whatever products publish.
@Suite("Template cache: bounded in bytes as well as in count", .needsStack, .serialized)
struct TemplateCacheTests {
    @Test("templates published by a tenant: the cache never holds more than its bytes; one larger than them all is used, not kept")
    func boundedInBytes() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let body = String(repeating: "Hello {{name}}, this is a line of an ordinary template.\n", count: 100)
        for index in 0..<6 {
            let reply = try await service.call(
                "PublishTemplate", ["name": "t\(index)", "template": ["title": "Hi {{name}}", "body": body]],
                as: .key(shop.productKey))
            #expect(reply.status == 201, "\(reply.raw)")
        }
        let huge = String(repeating: "x", count: 60_000)
        #expect(
            try await service.call(
                "PublishTemplate", ["name": "huge", "template": ["title": "t", "body": huge, "sms": ["body": huge]]],
                as: .key(shop.productKey)
            ).status == 201)
        let product = try #require(UUID(uuidString: shop.productID))

        let cache = TemplateCache(maxBytes: 300_000)
        try await service.db.withConnection { db in
            var footprint = 0
            for index in 0..<6 {
                let template = try #require(try cache.live(product: product, name: "t\(index)", on: db))
                footprint = template.footprint
                #expect(cache.held.bytes <= cache.maxBytes)
            }
            #expect(footprint > 50_000 && cache.held.count == cache.maxBytes / footprint, "the oldest went: \(cache.held)")
            let before = cache.held
            #expect(try cache.live(product: product, name: "huge", on: db)?.footprint ?? 0 > cache.maxBytes)
            #expect(cache.held == before, "a template larger than the cache is used and not kept")
            #expect(try cache.live(product: product, name: "t5", on: db) != nil)
        }
    }
}
