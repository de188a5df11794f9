import Foundation
import PropertyBased
import Testing

@testable import NotifyCore

@Suite("Tenants and keys: the key format, credentials, scopes and who reaches what")
struct TenancyTests {
    static let product = Tenant(productID: UUID())
    static let organization = Tenant(productID: product.productID, organizationID: UUID())

    static func record(_ key: APIKey, scopes: [Scope] = Scope.product, tenant: Tenant? = product) -> KeyRecord {
        KeyRecord(id: key.id, hash: key.hash, scopes: scopes, tenant: tenant)
    }

    @Test("a generated key: the readable prefix, a 16-character id, 256 bits of secret, and it parses back")
    func generated() throws {
        let keys = (0..<200).map { _ in APIKey.generate() }
        #expect(Set(keys.map(\.text)).count == 200)
        #expect(Set(keys.map(\.id)).count == 200)
        for key in keys {
            #expect(key.text.hasPrefix("fmk_"))
            #expect(key.text.utf8.count == 4 + 16 + 1 + 43)
            let parsed = try #require(APIKey(parsing: key.text))
            #expect(parsed == key)
            #expect(key.hash.count == 64)
            #expect(!key.hash.contains(key.text.dropFirst(21)))
        }
        // 43 base64url characters carry 258 bits; the last one holds 4 of the 32 bytes' bits.
        #expect(
            Data(
                base64Encoded: String(keys[0].text.dropFirst(21)).replacingOccurrences(of: "-", with: "+")
                    .replacingOccurrences(of: "_", with: "/") + "=")?.count == 32)
    }

    @Test("anything not shaped like a key is refused before any lookup")
    func refusedShapes() async {
        let key = APIKey.generate().text
        let (head, secret) = (String(key.prefix(20)), String(key.dropFirst(21)))
        let shapes: [String] = [
            "", "fmk_", key + "x", String(key.dropLast()), "FMK_" + key.dropFirst(4), "fmx_" + key.dropFirst(4),
            head + "-" + secret, "fmk_A" + key.dropFirst(5), head + "_" + secret.dropLast() + "=",
        ]
        for text in shapes {
            #expect(APIKey(parsing: text) == nil, "\(text)")
        }
        await propertyCheck(count: 500, input: Gen.unicodeScalar(in: " "..."~").map(Character.init).string(of: 0...80)) { text in
            if let parsed = APIKey(parsing: text) { #expect(parsed.text == text && text.hasPrefix("fmk_") && text.utf8.count == 64) }
        }
    }

    @Test("hashes compare equal only when equal, whatever the lengths")
    func hashes() {
        let hash = APIKey.hash("secret")
        #expect(APIKey.hashesMatch(hash, APIKey.hash("secret")))
        #expect(!APIKey.hashesMatch(hash, APIKey.hash("secreT")))
        #expect(!APIKey.hashesMatch(hash, String(hash.dropLast())))
        #expect(!APIKey.hashesMatch(hash, ""))
        #expect(hash == "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b")
    }

    @Test("lowercase hex: two digits per byte, every byte value as Foundation formats it")
    func hex() {
        let bytes = (0...255).map(UInt8.init)
        #expect(lowercaseHex(bytes) == bytes.map { String(format: "%02x", $0) }.joined())
        #expect(lowercaseHex([UInt8]()) == "")
    }

    @Test("a wrong secret, a revoked key and an expired one are the same 401; a deactivated owner is 403")
    func credentials() throws {
        let key = APIKey.generate()
        let principal = try Access.authenticate(key, record: Self.record(key)).principal
        #expect(principal.keyID == key.id && principal.tenant == Self.product && principal.actor == "key:\(key.id)")
        let other = APIKey.generate()
        var wrongSecret = Self.record(key)
        wrongSecret.hash = other.hash
        var revoked = Self.record(key)
        revoked.revoked = true
        var expired = Self.record(key)
        expired.expired = true
        var failures: [CommandFailure] = []
        for record in [nil, wrongSecret, revoked, expired] {
            do { _ = try Access.authenticate(key, record: record) } catch { failures.append(error) }
        }
        #expect(Set(failures.map(\.message)).count == 1)
        #expect(failures.count == 4 && failures.allSatisfy { $0.status == 401 })
        var inactiveProduct = Self.record(key)
        inactiveProduct.productActive = false
        var inactiveOrganization = Self.record(key, scopes: Scope.organization, tenant: Self.organization)
        inactiveOrganization.organizationActive = false
        for record in [inactiveProduct, inactiveOrganization] {
            // The key authenticates (its holder is known, and named in the audit trail), then is refused.
            #expect(try Access.authenticate(key, record: record) == record)
            do {
                try Access.admit(record)
                Issue.record("accepted")
            } catch {
                #expect(error.status == 403)
            }
        }
    }

    @Test("every command needs a scope: a product's key sends, keeps its recipients, reads its users' inbox and manages, never onboards")
    func scopes() throws {
        let product = Principal(keyID: "k", scopes: Set(Scope.product), tenant: Self.product, actor: "key:k")
        let organization = Principal(keyID: "o", scopes: Set(Scope.organization), tenant: Self.organization, actor: "key:o")
        let service = Principal(keyID: "s", scopes: [.inboxRead], tenant: nil, actor: "key:s")
        func allowed(_ principal: Principal) -> Set<Command> {
            Set(Command.allCases.filter { (try? Access.authorise(principal, $0)) != nil })
        }
        #expect(allowed(.admin) == Set(Command.allCases))
        #expect(allowed(service) == [.getUserNotifications, .getNotificationDetails, .getStockLevels, .rotateAPIKey, .revokeAPIKey])
        #expect(
            allowed(product) == [
                .sendNotification, .sendBatch, .cancelRequest, .upsertRecipient, .getRecipient, .deleteRecipient, .getDeliveryStatus,
                .listMessages, .getMessage, .listDeliveries, .createOrganizations, .getProduct, .getOrganization, .updateProduct,
                .updateOrganization, .rotateAPIKey, .revokeAPIKey, .listAuditEvents,
                // Its templates: it publishes them; its organisations read and try them.
                .publishTemplate, .rollbackTemplate, .getTemplate, .listTemplates, .previewTemplate,
                // Its own users' in-app inbox (the handlers keep FlowMart's stock and wishes from tenants).
                .getUserNotifications, .getNotificationDetails, .markNotificationRead, .getStockLevels, .watchProduct,
            ])
        #expect(
            allowed(organization) == [
                .sendNotification, .sendBatch, .cancelRequest, .upsertRecipient, .getRecipient, .deleteRecipient, .getDeliveryStatus,
                .listMessages, .getMessage, .listDeliveries, .getProduct, .getOrganization, .rotateAPIKey, .revokeAPIKey,
                .getUserNotifications, .getNotificationDetails, .markNotificationRead, .getStockLevels, .watchProduct,
                .getTemplate, .listTemplates, .previewTemplate,
            ])
        #expect(
            allowed(.broker) == [.getUserNotifications, .getNotificationDetails, .getStockLevels, .markNotificationRead, .watchProduct])
        do {
            try Access.authorise(service, .createProduct)
            Issue.record("accepted")
        } catch {
            #expect(error.status == 403 && error.message.contains("admin"))
        }
        #expect(Command.allCases.allSatisfy { !$0.scopes.isEmpty })
    }

    @Test("a product's key reaches its product and organisations; an organisation's key only itself; keys likewise")
    func reach() {
        let other = Tenant(productID: UUID(), organizationID: UUID())
        let product = Principal(keyID: "p", scopes: Set(Scope.product), tenant: Self.product, actor: "key:p")
        let organization = Principal(keyID: "o", scopes: Set(Scope.organization), tenant: Self.organization, actor: "key:o")
        #expect(product.reaches(product: Self.product.productID))
        #expect(product.reaches(product: Self.product.productID, organization: Self.organization.organizationID))
        #expect(!product.reaches(product: other.productID))
        #expect(!product.reaches(product: nil))
        #expect(organization.reaches(product: Self.product.productID, organization: Self.organization.organizationID))
        #expect(!organization.reaches(product: Self.product.productID))
        #expect(!organization.reaches(product: Self.product.productID, organization: other.organizationID))
        #expect(Principal.admin.reaches(product: other.productID))
        // Having no tenant is not reaching every tenant: service keys and the broker reach none, whatever their scopes.
        let service = Principal(keyID: "s", scopes: Set(Scope.service), tenant: nil, actor: "key:s")
        for caller in [service, Principal.broker] {
            #expect(!caller.reaches(product: Self.product.productID) && !caller.reaches(product: nil))
            #expect(!caller.reaches(product: Self.product.productID, organization: Self.organization.organizationID))
        }
    }

    @Test(
        "who manages which key: itself, a product's key its organisations' (never another product-level key), the admin any; a rotated key only itself"
    )
    func managing() {
        /// The status of the refusal, nil when allowed.
        func outcome(_ principal: Principal, _ owner: KeyOwner) -> Int? {
            do {
                try Access.authorise(principal, toManage: owner)
                return nil
            } catch { return error.status }
        }
        let other = Tenant(productID: UUID(), organizationID: UUID())
        let product = Principal(keyID: "p", scopes: Set(Scope.product), tenant: Self.product, actor: "key:p")
        let organization = Principal(keyID: "o", scopes: Set(Scope.organization), tenant: Self.organization, actor: "key:o")
        var rotated = product
        rotated.hasSuccessor = true
        let ownKey = KeyOwner(keyID: "p", scopes: Scope.product, tenant: Self.product)
        let successor = KeyOwner(keyID: "p2", scopes: Scope.product, tenant: Self.product)
        let organizationKey = KeyOwner(keyID: "o", scopes: Scope.organization, tenant: Self.organization)
        let foreignKey = KeyOwner(keyID: "x", scopes: Scope.product, tenant: other)
        let serviceKey = KeyOwner(keyID: "s", scopes: [.inboxRead], tenant: nil)
        #expect(outcome(product, ownKey) == nil && outcome(product, organizationKey) == nil)
        #expect(outcome(product, successor) == 404, "another product-level key of its product, its successor included")
        #expect(outcome(product, foreignKey) == 404 && outcome(product, serviceKey) == 404)
        #expect(outcome(organization, organizationKey) == nil && outcome(organization, ownKey) == 404)
        #expect(outcome(rotated, ownKey) == nil, "a rotated key still handles itself (revoking itself)")
        #expect(outcome(rotated, organizationKey) == 403 && outcome(rotated, successor) == 404 && outcome(rotated, foreignKey) == 404)
        #expect(outcome(Principal.admin, foreignKey) == nil && outcome(Principal.admin, serviceKey) == nil)
        // The caller as it stands when it acts: a key revoked since it authenticated is 401; the admin has no row.
        #expect(throws: CommandFailure.self) { try Access.stillActing(product, live: false, hasSuccessor: false) }
        #expect((try? Access.stillActing(product, live: true, hasSuccessor: true))?.hasSuccessor == true)
        #expect((try? Access.stillActing(Principal.admin, live: false, hasSuccessor: false)) == Principal.admin)
    }

    @Test("onboarding requests: names are checked, organisations bounded, service keys get service scopes only")
    func requests() throws {
        let created = try CreateProduct(body: Array(#"{"product":{"name":"Shop"},"organizations":[{"name":"Acme","active":false}]}"#.utf8))
        #expect(created == CreateProduct(product: TenantSpec(name: "Shop"), organizations: [TenantSpec(name: "Acme", active: false)]))
        #expect(try CreateProduct(body: created.body.bytes) == created)
        for (body, field) in [
            (#"{}"#, "product"), (#"{"product":{"name":"   "}}"#, "product.name"), (#"{"product":{"name":"a\u0007b"}}"#, "product.name"),
            (#"{"product":{"name":"\#(String(repeating: "x", count: 201))"}}"#, "product.name"),
            (#"{"product":{"name":"Shop","active":"yes"}}"#, "product.active"),
            (#"{"product":{"name":"Shop"},"organizations":[{"name":""}]}"#, "organizations[0].name"),
            (#"{"productId":"nope","organizations":[{"name":"A"}]}"#, "productId"),
        ] {
            do {
                if body.contains("productId") {
                    _ = try CreateOrganizations(body: Array(body.utf8))
                } else {
                    _ = try CreateProduct(body: Array(body.utf8))
                }
                Issue.record("accepted \(body)")
            } catch {
                #expect(error.status == 400 && error.message.contains("'\(field)'"), "\(error.message)")
            }
        }
        let many = "[" + Array(repeating: #"{"name":"o"}"#, count: 101).joined(separator: ",") + "]"
        #expect(throws: CommandFailure.self) { try CreateOrganizations(body: Array(#"{"organizations":\#(many)}"#.utf8)) }
        #expect(throws: CommandFailure.self) { try CreateOrganizations(body: Array(#"{"organizations":[]}"#.utf8)) }
        #expect(throws: CommandFailure.self) { try UpdateProduct(body: Array(#"{"id":"8d3c7f0e-8b7e-4c36-9d4b-2f1b4c1e9a10"}"#.utf8)) }
        let service = try CreateServiceKey(body: Array(#"{"name":"orders","scopes":["recipients","inbox-read","inbox-read"]}"#.utf8))
        #expect(service.scopes == [.inboxRead, .recipients])
        for scopes in [#"[]"#, #"["admin"]"#, #"["send"]"#, #"["manage"]"#, #"["nope"]"#] {
            #expect(throws: CommandFailure.self) { try CreateServiceKey(body: Array(#"{"name":"x","scopes":\#(scopes)}"#.utf8)) }
        }
        #expect(throws: CommandFailure.self) { try RotateAPIKey(body: Array(#"{"keyId":"ABCDEFGHIJ234567"}"#.utf8)) }
        #expect(try RotateAPIKey(body: Array(#"{}"#.utf8)).keyID == nil)
        let audit = try ListAuditEvents(body: Array(#"{"actor":"admin","from":"2026-01-01T00:00:00Z","cursor":"17"}"#.utf8))
        #expect(audit.cursor == 17 && audit.limit == 20 && audit.actor == "admin")
        #expect(try ListAuditEvents(body: audit.body.bytes) == audit)
        #expect(throws: CommandFailure.self) { try ListAuditEvents(body: Array(#"{"cursor":"-1"}"#.utf8)) }
    }

    @Test(
        "a tenant's own quota: {perSecond, burst?} checked, burst four seconds' worth and at least a batch; null is the default; admin's to set"
    )
    func quotas() throws {
        func update(_ json: String) throws(CommandFailure) -> TenantUpdate { try UpdateProduct(body: Array(json.utf8)).update }
        let id = UUID().uuidString
        #expect(try update(#"{"id":"\#(id)","quota":{"perSecond":10}}"#).quota == .set(SendQuota(perSecond: 10, burst: 1_000)))
        #expect(try update(#"{"id":"\#(id)","quota":{"perSecond":500}}"#).quota == .set(SendQuota(perSecond: 500, burst: 2_000)))
        #expect(try update(#"{"id":"\#(id)","quota":{"perSecond":5,"burst":5000}}"#).quota == .set(SendQuota(perSecond: 5, burst: 5_000)))
        #expect(try update(#"{"id":"\#(id)","quota":null}"#).quota == .useDefault)
        #expect(try update(#"{"id":"\#(id)","name":"x"}"#).quota == nil)
        for (body, field) in [
            (#"{"quota":{}}"#, "quota.perSecond"), (#"{"quota":{"perSecond":0}}"#, "quota.perSecond"),
            (#"{"quota":{"perSecond":1,"burst":999}}"#, "quota.burst"), (#"{"quota":5}"#, "quota"),
        ] {
            #expect(throws: CommandFailure.self) { try update(#"{"id":"\#(id)",\#(body.dropFirst())"#) }
            do { _ = try update(#"{"id":"\#(id)",\#(body.dropFirst())"#) } catch {
                #expect(error.message.contains("'\(field)"), "\(error.message)")
            }
        }

        let product = UUID(), organization = UUID()
        let fallback = RateLimit(perSecond: 500, burst: 2_000)
        let own = TenantQuotas(product: SendQuota(perSecond: 100, burst: 1_000))
        #expect(own.schedules(of: Tenant(productID: product), fallback: fallback).map(\.key) == [TenantQuotas.key(of: product)])
        let both = own.schedules(of: Tenant(productID: product, organizationID: organization), fallback: fallback)
        #expect(
            both.map(\.key) == [TenantQuotas.key(of: organization), TenantQuotas.key(of: product)], "the organisation's, then its product's"
        )
        #expect(both.map(\.limit) == [fallback, RateLimit(perSecond: 100, burst: 1_000)])
        #expect(TenantQuotas().schedules(of: Tenant(productID: product), fallback: nil).isEmpty, "quotas off, none set: no schedule")
        #expect(
            own.schedules(of: Tenant(productID: product, organizationID: organization), fallback: nil).map(\.key) == [
                TenantQuotas.key(of: product)
            ])
    }
}
