import Foundation
import NotifyCore
import NotifyStore
import Postgres
import StackSupport
import Testing

/// What a leaked key can mint: a rotated key cannot rotate again, and revoking a key revokes what it minted during
/// its grace (with everything those keys minted). Over RPC, with the database as the oracle for the audit trail.
@Suite("Key lineage: one successor per key, revocation takes what a key minted in its grace", .needsStack, .serialized)
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
        // Neither the admin nor the product's new key can give the old key a second successor (the new key does not
        // even reach it: another product-level key is not its to manage).
        #expect(try await service.call("RotateApiKey", ["keyId": Self.keyID(shop.productKey)]).status == 409)
        #expect(try await service.call("RotateApiKey", ["keyId": Self.keyID(shop.productKey)], as: .key(successor)).status == 404)
        // The successor rotates on: a chain, one link at a time.
        #expect(try await service.call("RotateApiKey", [:], as: .key(successor)).status == 201)

        let keys = try await service.db.withConnection { db in
            try db.query(
                "SELECT count(*) FROM api_keys WHERE product_id = \(UUID(uuidString: shop.productID)) AND organization_id IS NULL")[0]
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
        // In its grace the old key mints an organisation with its key (rotating others' keys it may not any more).
        let created = try await service.call("CreateOrganizations", ["organizations": [["name": "During"]]], as: .key(old))
        let mintedByCreation = try #require((created.body["organizations"] as? [[String: Any]])?.first?["apiKey"] as? String)
        // ...and a key it minted mints one more (the chain).
        let grandchild = try await service.call("RotateApiKey", [:], as: .key(mintedByCreation))
        let mintedByMinted = try #require(grandchild.body["apiKey"] as? String)
        for key in [mintedByCreation, mintedByMinted] {
            #expect(try await service.call("GetOrganization", [:], as: .key(key)).status == 200)
        }

        // The owner ends the grace early with the old key itself (the successor may not revoke another product-level key).
        let revoked = try await service.call("RevokeApiKey", ["keyId": Self.keyID(old)], as: .key(old))
        #expect(revoked.status == 200, "\(revoked.raw)")
        let alsoRevoked = Set(revoked.body["alsoRevoked"] as? [String] ?? [])
        #expect(alsoRevoked == Set([mintedByCreation, mintedByMinted].map(Self.keyID)))
        for key in [old, mintedByCreation, mintedByMinted] {
            #expect(
                try await service.call("GetOrganization", [:], as: .key(key)).status == 401, "a key minted in the grace of a revoked key")
        }
        #expect(try await service.call("GetProduct", [:], as: .key(successor)).status == 200, "the successor the owner moved to stays")
        #expect(
            try await service.call("GetOrganization", [:], as: .key(beforeKey)).status == 200,
            "what the key minted before its rotation stays")
        #expect(try await service.call("GetOrganization", [:], as: .key(shop.organizations[0].key)).status == 200)

        let audited = try await service.db.withConnection { db in
            try db.query(
                """
                SELECT entity, actor FROM audit_events WHERE action = 'key.revoked' ORDER BY entity
                """
            ).map { "\(try $0.decode(0, as: String.self)) \(try $0.decode(1, as: String.self))" }
        }
        let actor = "key:\(Self.keyID(old))"
        #expect(audited == ([old, mintedByCreation, mintedByMinted].map { "key:\(Self.keyID($0)) \(actor)" }).sorted())
    }

    @Test(
        "a rotated key manages no key but itself, and a product's key never another product-level key: a leaked key cannot lock its owner out"
    )
    func graceKeyManagesOnlyItself() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let leaked = shop.productKey
        let rotated = try await service.call("RotateApiKey", [:], as: .key(leaked))
        let successor = try #require(rotated.body["apiKey"] as? String)
        let organization = Self.keyID(shop.organizations[0].key)

        // The leaked key, in its grace, cannot revoke or rotate away the key its owner moved to (404: not its to reach)...
        for command in ["RevokeApiKey", "RotateApiKey"] {
            let reply = try await service.call(command, ["keyId": Self.keyID(successor)], as: .key(leaked))
            #expect(reply.status == 404, "\(command) of the successor by the rotated key: \(reply.raw)")
            // ...nor manage its organisations' keys any more (403: a key in its grace handles only itself).
            let organizations = try await service.call(command, ["keyId": organization], as: .key(leaked))
            #expect(organizations.status == 403, "\(command) of an organisation's key by the rotated key: \(organizations.raw)")
        }
        // Nor can the successor touch its predecessor: product-level keys manage only themselves.
        #expect(try await service.call("RevokeApiKey", ["keyId": Self.keyID(leaked)], as: .key(successor)).status == 404)
        // The owner is not locked out: the successor works and rotates, and manages the organisations' keys.
        #expect(try await service.call("GetProduct", [:], as: .key(successor)).status == 200)
        #expect(try await service.call("RotateApiKey", ["keyId": organization], as: .key(successor)).status == 201)
        let next = try await service.call("RotateApiKey", [:], as: .key(successor))
        #expect(next.status == 201, "\(next.raw)")
        // Revoking itself stays allowed in the grace.
        #expect(try await service.call("RevokeApiKey", [:], as: .key(leaked)).status == 200)
        #expect(try await service.call("GetProduct", [:], as: .key(leaked)).status == 401)
    }

    @Test("a key revoked after it authenticated and before it mints mints nothing (401): the mint reads the key again under a lock")
    func revokedBeforeTheMint() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let (product, key) = (UUID(uuidString: shop.productID), shop.productKey)
        // Hold the product's row, which CreateOrganizations locks after the key authenticated and before it mints, so
        // the owner's revocation commits in between, as a racing attacker's request would have it.
        let creation = try await service.db.transaction(spanning: { hold in
            _ = try await hold.run { try $0.query("SELECT 1 FROM products WHERE id = \(product) FOR UPDATE") }
            let creation = Task {
                try await service.call("CreateOrganizations", ["organizations": [["name": "Raced"]]], as: .key(key)).status
            }
            let deadline = ContinuousClock.now + .seconds(20)
            while try await hold.run({ db in
                try db.query("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'")[0]
                    .decode(0, as: Int.self)
            }) == 0 {
                guard ContinuousClock.now < deadline else { throw SupportFailure("CreateOrganizations never waited for the product's row") }
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await service.call("RevokeApiKey", ["keyId": Self.keyID(key)]).status == 200)
            return creation
        })
        #expect(try await creation.value == 401, "the key was revoked before it minted")
        let (organizations, keys) = try await service.db.withConnection { db in
            (
                try db.query("SELECT count(*) FROM organizations WHERE product_id = \(product)")[0].decode(0, as: Int.self),
                try db.query("SELECT count(*) FROM api_keys WHERE product_id = \(product) AND revoked_at IS NULL")[0].decode(
                    0, as: Int.self)
            )
        }
        #expect(organizations == 2 && keys == 2, "no organisation and no live key minted by the revoked key")
    }

    @Test("the store acts for a key as it stands when it acts: revoked since it authenticated (401), or rotated (then only itself, 403)")
    func storeReadsTheActingKeyAgain() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let (id, product) = (Self.keyID(shop.productKey), try #require(UUID(uuidString: shop.productID)))
        let organizationID = Self.keyID(shop.organizations[0].key)
        // The key and an organisation's key as authentication read them, before anything changed.
        let (stale, organization) = try await service.db.withConnection { db in
            (
                try TenantStore.keyRecord(id, on: db).orThrow("no key").principal,
                try TenantStore.keyOwner(organizationID, on: db).orThrow("no key")
            )
        }
        /// The status the store refuses `body` with; nil when it did it.
        func refusal(_ body: @escaping @Sendable (PGConnection) throws -> Void) async throws -> Int? {
            do {
                try await service.db.withConnection(body)
                return nil
            } catch let failure as CommandFailure { return failure.status }
        }
        let rotate: @Sendable (PGConnection) throws -> Void = { db in
            _ = try TenantStore.rotate(organization, graceSeconds: 60, by: stale, requestID: nil, on: db)
        }
        let revoke: @Sendable (PGConnection) throws -> Void = { db in
            _ = try TenantStore.revoke(organization, by: stale, requestID: nil, on: db)
        }
        let create: @Sendable (PGConnection) throws -> Void = { db in
            _ = try TenantStore.createOrganizations([TenantSpec(name: "Late")], under: product, by: stale, requestID: nil, on: db)
        }

        #expect(try await service.call("RotateApiKey", [:], as: .key(shop.productKey)).status == 201)
        for (what, body) in [("rotate", rotate), ("revoke", revoke)] {
            #expect(try await refusal(body) == 403, "\(what) by a key rotated since it authenticated: it manages only itself")
        }
        #expect(try await service.call("RevokeApiKey", ["keyId": id]).status == 200)
        for (what, body) in [("rotate", rotate), ("revoke", revoke), ("create", create)] {
            #expect(try await refusal(body) == 401, "\(what) by a key revoked since it authenticated")
        }
        #expect(
            try await service.call("GetOrganization", [:], as: .key(shop.organizations[0].key)).status == 200, "neither rotated nor revoked"
        )
        let organizations = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM organizations WHERE product_id = \(product)")[0].decode(0, as: Int.self)
        }
        #expect(organizations == 2)
    }
}
