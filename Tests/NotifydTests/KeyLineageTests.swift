import Foundation
import NotifyCore
import TestSupport
import Testing

/// What a leaked key can mint: a rotated key cannot rotate again, and revoking a key revokes what it minted during
/// its grace (with everything those keys minted). Over RPC, with the database as the oracle for the audit trail.
@Suite("Key lineage: one successor per key, revocation takes what a key minted in its grace", .serialized)
struct KeyLineageTests {
    static func keyID(_ key: String) -> String { String(key.dropFirst(4).prefix(16)) }

    @Test("a key with a successor cannot rotate again: 409 naming the successor, and no third key exists")
    func oneSuccessor() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let first = try await service.call("RotateApiKey", [:], as: .key(shop.productKey))
        #expect(first.status == 201)
        let successor = try #require(first.body["apiKey"] as? String)

        let again = try await service.call("RotateApiKey", [:], as: .key(shop.productKey))
        #expect(again.status == 409 && TenantTests.code(again) == "key-already-rotated", "\(again.raw)")
        let message = (again.body["error"] as? [String: Any])?["message"] as? String ?? ""
        #expect(message.contains(Self.keyID(successor)), "the refusal names the successor: \(message)")
        // Neither the admin nor the product's new key can give the old key a second successor.
        #expect(try await service.call("RotateApiKey", ["keyId": Self.keyID(shop.productKey)]).status == 409)
        #expect(try await service.call("RotateApiKey", ["keyId": Self.keyID(shop.productKey)], as: .key(successor)).status == 409)
        // The successor rotates on: a chain, one link at a time.
        #expect(try await service.call("RotateApiKey", [:], as: .key(successor)).status == 201)

        let keys = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM api_keys WHERE product_id = \(UUID(uuidString: shop.productID)) AND organization_id IS NULL")[0]
                .decode(0, as: Int.self)
        }
        #expect(keys == 3, "the first key, its one successor and that one's successor")
    }

    @Test("revoking a key revokes every key it minted during its grace, and theirs, in one transaction, audited; its successor stays")
    func revocationTakesWhatWasMintedInGrace() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let old = shop.productKey
        // Before its rotation the key mints an organisation: that one is not suspect.
        let before = try await service.call("CreateOrganizations", ["organizations": [["name": "Before"]]], as: .key(old))
        let beforeKey = try #require((before.body["organizations"] as? [[String: Any]])?.first?["apiKey"] as? String)

        let rotated = try await service.call("RotateApiKey", [:], as: .key(old))
        let successor = try #require(rotated.body["apiKey"] as? String)
        // In its grace the old key mints: a successor for an organisation's key, and an organisation with its key.
        let organizationKey = try await service.call("RotateApiKey", ["keyId": Self.keyID(shop.organizations[0].key)], as: .key(old))
        let mintedByRotation = try #require(organizationKey.body["apiKey"] as? String)
        let created = try await service.call("CreateOrganizations", ["organizations": [["name": "During"]]], as: .key(old))
        let mintedByCreation = try #require((created.body["organizations"] as? [[String: Any]])?.first?["apiKey"] as? String)
        // ...and a key it minted mints one more (the chain).
        let grandchild = try await service.call("RotateApiKey", [:], as: .key(mintedByCreation))
        let mintedByMinted = try #require(grandchild.body["apiKey"] as? String)
        for key in [mintedByRotation, mintedByCreation, mintedByMinted] {
            #expect(try await service.call("GetOrganization", [:], as: .key(key)).status == 200)
        }

        let revoked = try await service.call("RevokeApiKey", ["keyId": Self.keyID(old)], as: .key(successor))
        #expect(revoked.status == 200, "\(revoked.raw)")
        let alsoRevoked = Set(revoked.body["alsoRevoked"] as? [String] ?? [])
        #expect(alsoRevoked == Set([mintedByRotation, mintedByCreation, mintedByMinted].map(Self.keyID)))
        for key in [old, mintedByRotation, mintedByCreation, mintedByMinted] {
            #expect(try await service.call("GetOrganization", [:], as: .key(key)).status == 401, "a key minted in the grace of a revoked key")
        }
        #expect(try await service.call("GetProduct", [:], as: .key(successor)).status == 200, "the successor the owner moved to stays")
        #expect(try await service.call("GetOrganization", [:], as: .key(beforeKey)).status == 200, "what the key minted before its rotation stays")
        #expect(try await service.call("GetOrganization", [:], as: .key(shop.organizations[1].key)).status == 200)

        let audited = try await service.db.withConnection { db in
            try db.query("""
                SELECT entity, actor FROM audit_events WHERE action = 'key.revoked' ORDER BY entity
                """).map { "\(try $0.decode(0, as: String.self)) \(try $0.decode(1, as: String.self))" }
        }
        let actor = "key:\(Self.keyID(successor))"
        #expect(audited == ([old, mintedByRotation, mintedByCreation, mintedByMinted].map { "key:\(Self.keyID($0)) \(actor)" }).sorted())
    }
}
