import AMQP
import Foundation
import NIOHTTP1
import NotifyCore
import StackSupport
import Testing

/// Onboarding, keys and authorisation, over RPC as a client sees them; the database is read directly as the oracle
/// (what is stored for a key, what the audit trail holds).
@Suite("Tenants and API keys over RPC", .needsStack, .serialized)
struct TenantTests {
    /// A product with two organisations, onboarded by the admin: the reply's ids and keys.
    struct Onboarded {
        var productID: String
        var productKey: String
        var organizations: [(id: String, key: String)]
    }

    static func onboard(_ service: ServiceHarness, name: String = "Shop") async throws -> Onboarded {
        let reply = try await service.call(
            "CreateProduct",
            [
                "product": ["name": name, "active": true], "organizations": [["name": "\(name) Acme"], ["name": "\(name) Globex"]],
            ])
        #expect(reply.status == 201)
        let product = try #require(reply.body["product"] as? [String: Any])
        let organizations = try #require(reply.body["organizations"] as? [[String: Any]])
        return Onboarded(
            productID: try #require(product["id"] as? String), productKey: try #require(product["apiKey"] as? String),
            organizations: try organizations.map { (try #require($0["id"] as? String), try #require($0["apiKey"] as? String)) })
    }

    static func code(_ reply: ServiceHarness.Reply) -> String? { (reply.body["error"] as? [String: Any])?["code"] as? String }

    @Test("onboarding: a product with organisations and keys shown once, stored as hashes; reads without keys; each step audited")
    func onboarding() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await Self.onboard(service)
        #expect(shop.productKey.hasPrefix("fmk_") && shop.organizations.allSatisfy { $0.key.hasPrefix("fmk_") })

        let product = try await service.call("GetProduct", [:], as: .key(shop.productKey))
        #expect(product.status == 200)
        #expect(product.body["id"] as? String == shop.productID && product.body["name"] as? String == "Shop")
        let listed = try #require(product.body["organizations"] as? [[String: Any]])
        #expect(Set(listed.compactMap { $0["id"] as? String }) == Set(shop.organizations.map(\.id)))
        #expect(!"\(product.raw)".contains("fmk_"), "keys are shown only when issued")

        let organization = try await service.call("GetOrganization", [:], as: .key(shop.organizations[0].key))
        #expect(organization.status == 200 && organization.body["productId"] as? String == shop.productID)
        let more = try await service.call(
            "CreateOrganizations", ["organizations": [["name": "Initech", "active": false]]],
            as: .key(shop.productKey))
        #expect(more.status == 201)
        let initech = try #require((more.body["organizations"] as? [[String: Any]])?.first)
        #expect(initech["active"] as? Bool == false && (initech["apiKey"] as? String)?.hasPrefix("fmk_") == true)

        // What is stored: the SHA-256 of each key (PostgreSQL computes it here, independently), never the key.
        let keys = [shop.productKey] + shop.organizations.map(\.key)
        let stored = try await service.db.withConnection { db in
            try keys.map { key in
                try db.query(
                    """
                    SELECT count(*) FROM api_keys WHERE key_hash = encode(sha256(convert_to(\(key), 'UTF8')), 'hex')
                    """)[0].decode(0, as: Int.self)
            }
        }
        #expect(stored == [1, 1, 1])
        let everything = try await service.db.withConnection { db in
            try db.query(
                """
                SELECT coalesce(string_agg(k::text, ' '), '') || coalesce((SELECT string_agg(a::text, ' ') FROM audit_events a), '')
                FROM api_keys k
                """)[0].decode(0, as: String.self)
        }
        for key in keys { #expect(!everything.contains(key.dropFirst(21)), "no secret in the keys' rows or the audit trail") }

        let audit = try await service.call("ListAuditEvents", ["limit": 100], as: .key(shop.productKey))
        let actions = (audit.body["events"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        #expect(actions.filter { $0 == "organization.created" }.count == 3)
        #expect(actions.filter { $0 == "key.issued" }.count == 4)
        #expect(actions.contains("product.created"))
        for secret in keys + [service.slot.adminKey] { #expect(!service.daemon.log.contains(secret), "no key in the daemon's log") }
    }

    @Test("authorisation: 401 without a key or with an unknown one, 403 for a scope the key lacks; refusals of changes audited")
    func authorisation() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await Self.onboard(service)
        let inbox = ["userId": "u-1"]

        let none = try await service.call("GetUserNotifications", inbox, as: .none)
        #expect(none.status == 401 && Self.code(none) == "unauthorized")
        let forged = APIKey.generate().text
        #expect(try await service.call("GetUserNotifications", inbox, as: .key(forged)).status == 401)
        #expect(try await service.call("GetUserNotifications", inbox, as: .key("not a key")).status == 401)
        let wrongSecret = String(shop.productKey.prefix(21)) + String(APIKey.generate().text.dropFirst(21))
        #expect(try await service.call("GetProduct", [:], as: .key(wrongSecret)).status == 401, "a known id with another secret")
        // A change refused to a key that did not authenticate is audited as anonymous, never as the key it names.
        let claimed = try await service.call("CreateOrganizations", ["organizations": [["name": "X"]]], as: .key(wrongSecret))
        #expect(claimed.status == 401)

        #expect(try await service.call("ListParked", [:], as: .key(shop.productKey)).status == 403)
        #expect(try await service.call("CreateProduct", ["product": ["name": "Mine"]], as: .key(shop.productKey)).status == 403)
        let refused = try await service.call("CreateOrganizations", ["organizations": [["name": "X"]]], as: .key(shop.organizations[0].key))
        #expect(refused.status == 403 && Self.code(refused) == "forbidden")

        // A service key for the inbox: reads, but may not change the inbox without inbox-write.
        let issued = try await service.call("CreateServiceKey", ["name": "storefront", "scopes": ["inbox-read"]])
        #expect(issued.status == 201)
        let storefront = try #require(issued.body["apiKey"] as? String)
        #expect(try await service.call("GetUserNotifications", inbox, as: .key(storefront)).status == 200)
        let read = try await service.call(
            "MarkNotificationRead", ["userId": "u-1", "notificationId": UUID().uuidString], as: .key(storefront))
        #expect(read.status == 403)
        #expect(try await service.call("ListParked", [:], as: .key(storefront)).status == 403)

        let refusals = try await service.refusals(atLeast: 4)
        let organizationKeyID = String(shop.organizations[0].key.dropFirst(4).prefix(16))
        let storefrontKeyID = String(storefront.dropFirst(4).prefix(16))
        #expect(
            refusals == [
                "CreateOrganizations refused:401 anonymous": 1,
                "CreateProduct refused:403 key:\(String(shop.productKey.dropFirst(4).prefix(16)))": 1,
                "CreateOrganizations refused:403 key:\(organizationKeyID)": 1,
                "MarkNotificationRead refused:403 key:\(storefrontKeyID)": 1,
            ])
    }

    @Test("isolation: one product's keys, and service keys, cannot see or change a product, its organisations, keys or audit trail")
    func isolation() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let a = try await Self.onboard(service, name: "Alpha")
        let b = try await Self.onboard(service, name: "Beta")
        let bKeyID = String(b.productKey.dropFirst(4).prefix(16))
        let attempts: [(String, [String: Any])] = [
            ("GetProduct", ["productId": b.productID]),
            ("GetOrganization", ["organizationId": b.organizations[0].id]),
            ("CreateOrganizations", ["productId": b.productID, "organizations": [["name": "Trojan"]]]),
            ("UpdateProduct", ["id": b.productID, "name": "Pwned"]),
            ("UpdateOrganization", ["id": b.organizations[0].id, "name": "Pwned"]),
            ("RotateApiKey", ["keyId": bKeyID]),
            ("RevokeApiKey", ["keyId": bKeyID]),
        ]
        for (command, body) in attempts {
            let reply = try await service.call(command, body, as: .key(a.productKey))
            #expect(reply.status == 404, "\(command) answered \(reply.status)")
        }
        // An organisation's key does not reach its sibling either.
        let sibling = try await service.call("GetOrganization", ["organizationId": a.organizations[1].id], as: .key(a.organizations[0].key))
        #expect(sibling.status == 404)
        #expect(try await service.call("GetProduct", [:], as: .key(a.organizations[0].key)).status == 404)

        // A service key (FlowMart's own, no tenant) reaches no tenant: answered exactly as for an unknown id.
        let tracker = try #require(
            try await service.call("CreateServiceKey", ["name": "tracker", "scopes": ["track"]]).body["apiKey"] as? String)
        for (command, field, id) in [
            ("GetProduct", "productId", b.productID), ("GetOrganization", "organizationId", b.organizations[0].id),
        ] {
            let reply = try await service.call(command, [field: id], as: .key(tracker))
            let unknown = try await service.call(command, [field: UUID().uuidString], as: .key(tracker))
            let (seen, unseen) = (try SecurityModelTests.canonical(reply.raw), try SecurityModelTests.canonical(unknown.raw))
            #expect(reply.status == 404 && seen == unseen, "\(command): \(seen)")
        }
        let bProduct = try await service.call("GetProduct", [:], as: .key(b.productKey))
        #expect(bProduct.status == 200 && bProduct.body["name"] as? String == "Beta", "nothing of B changed")
        #expect((bProduct.body["organizations"] as? [Any])?.count == 2)
        let audit = try await service.call("ListAuditEvents", ["limit": 100], as: .key(a.productKey))
        let tenants = Set((audit.body["events"] as? [[String: Any]] ?? []).compactMap { $0["tenant"] as? String })
        #expect(tenants == [a.productID], "A reads only its own audit rows")
        let asked = try await service.call("ListAuditEvents", ["tenant": b.productID], as: .key(a.productKey))
        #expect(Set((asked.body["events"] as? [[String: Any]] ?? []).compactMap { $0["tenant"] as? String }) == [a.productID])
    }

    @Test("deactivation: only the admin deactivates a product; its organisations go with it and every key of it gets 403")
    func deactivation() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let shop = try await Self.onboard(service)
        let renamed = try await service.call("UpdateProduct", ["id": shop.productID, "name": "Shop 2"], as: .key(shop.productKey))
        #expect(renamed.status == 200 && renamed.body["name"] as? String == "Shop 2")
        let selfDeactivated = try await service.call("UpdateProduct", ["id": shop.productID, "active": false], as: .key(shop.productKey))
        #expect(selfDeactivated.status == 403)

        let off = try await service.call("UpdateProduct", ["id": shop.productID, "active": false])
        #expect(off.status == 200 && off.body["active"] as? Bool == false)
        #expect((off.body["organizations"] as? [[String: Any]] ?? []).allSatisfy { $0["active"] as? Bool == false })
        for key in [shop.productKey] + shop.organizations.map(\.key) {
            let reply = try await service.call("GetProduct", [:], as: .key(key))
            #expect(reply.status == 403 && Self.code(reply) == "forbidden")
        }
        // Reactivating the product leaves its organisations to be reactivated one by one.
        #expect(try await service.call("UpdateProduct", ["id": shop.productID, "active": true]).status == 200)
        #expect(try await service.call("GetProduct", [:], as: .key(shop.productKey)).status == 200)
        #expect(try await service.call("GetOrganization", [:], as: .key(shop.organizations[0].key)).status == 403)
        let on = try await service.call("UpdateOrganization", ["id": shop.organizations[0].id, "active": true], as: .key(shop.productKey))
        #expect(on.status == 200 && on.body["active"] as? Bool == true)
        #expect(try await service.call("GetOrganization", [:], as: .key(shop.organizations[0].key)).status == 200)

        let audit = try await service.call("ListAuditEvents", ["entity": "product:\(shop.productID)"])
        let actions = (audit.body["events"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        #expect(actions == ["product.activated", "product.deactivated", "product.renamed", "product.created"])
        let organizationAudit = try await service.call("ListAuditEvents", ["entity": "organization:\(shop.organizations[0].id)"])
        let organizationEvents = organizationAudit.body["events"] as? [[String: Any]] ?? []
        #expect(
            organizationEvents.compactMap { $0["action"] as? String }
                == ["organization.activated", "organization.deactivated", "organization.created"])
        #expect(organizationEvents.compactMap { $0["actor"] as? String }.contains("admin"))
    }

    @Test("rotation keeps the old key through its grace period, revocation stops a key at once")
    func rotation() async throws {
        let service = try await ServiceHarness(environment: ["NOTIFY_AUTH_ROTATION_GRACE_SECONDS": "2"])
        defer { Task { await service.shutDown() } }
        let shop = try await Self.onboard(service)
        let rotated = try await service.call("RotateApiKey", [:], as: .key(shop.productKey))
        #expect(rotated.status == 201)
        let successor = try #require(rotated.body["apiKey"] as? String)
        #expect(rotated.body["replacesKeyId"] as? String == String(shop.productKey.dropFirst(4).prefix(16)))
        #expect(RFC3339Check.isTimestamp(rotated.body["expiresOldAt"]))
        #expect(try await service.call("GetProduct", [:], as: .key(successor)).status == 200)
        #expect(try await service.call("GetProduct", [:], as: .key(shop.productKey)).status == 200, "the old key works in its grace")
        try await Task.sleep(for: .milliseconds(2500))
        #expect(try await service.call("GetProduct", [:], as: .key(shop.productKey)).status == 401, "and not after it")
        #expect(try await service.call("RotateApiKey", [:], as: .key(shop.productKey)).status == 401)

        // The product's key revokes an organisation's key; the organisation's key is refused from then on.
        let organizationKeyID = String(shop.organizations[0].key.dropFirst(4).prefix(16))
        let revoked = try await service.call("RevokeApiKey", ["keyId": organizationKeyID], as: .key(successor))
        #expect(revoked.status == 200 && revoked.body["alreadyRevoked"] as? Bool == false)
        #expect(try await service.call("GetOrganization", [:], as: .key(shop.organizations[0].key)).status == 401)
        let again = try await service.call("RevokeApiKey", ["keyId": organizationKeyID], as: .key(successor))
        #expect(again.status == 200 && again.body["alreadyRevoked"] as? Bool == true)
        let rotateRevoked = try await service.call("RotateApiKey", ["keyId": organizationKeyID], as: .key(successor))
        #expect(rotateRevoked.status == 409)
        // The other organisation still works, and rotates itself.
        let own = try await service.call("RotateApiKey", [:], as: .key(shop.organizations[1].key))
        #expect(own.status == 201)

        let audit = try await service.call("ListAuditEvents", ["entity": "key:\(organizationKeyID)"])
        #expect((audit.body["events"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String } == ["key.revoked", "key.issued"])
    }

    @Test("reply_to must be direct reply-to or a broker-named queue: the daemon never publishes into another queue")
    func replyTo() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let victim = "test.\(service.id).victim"
        try await service.client.declare(AMQPTopology(queues: [.init(name: victim, durable: false)]))
        defer { Task { try? await service.client.deleteQueue(victim) } }
        let properties = AMQPProperties(
            contentType: "application/json", headers: [RPCEnvelope.apiKeyHeader: .string(service.slot.adminKey)], persistent: false,
            correlationID: "c-1", replyTo: victim, messageID: "m-1", type: "GetUserNotifications")
        _ = try await service.publisher.publish(
            [
                AMQPOutgoingMessage(
                    exchange: "", routingKey: service.rpcQueue, body: Array(#"{"userId":"u-1"}"#.utf8), properties: properties)
            ],
            timeout: .seconds(5))
        #expect(await service.daemon.waitForLog("dropped an RPC request without an allowed reply_to"))
        #expect(try await service.client.queueStatus(victim).messageCount == 0)
        #expect(try await service.call("GetUserNotifications", ["userId": "u-1"]).status == 200, "direct reply-to is answered")
    }

    @Test("a deployment may leave the inbox commands to the broker's permissions; every other command still needs a key")
    func keylessInbox() async throws {
        let port = try freeLoopbackPort()
        let service = try await ServiceHarness(environment: ["NOTIFY_AUTH_INBOX_REQUIRES_KEY": "false", "NOTIFY_HTTP_PORT": String(port)])
        defer { Task { await service.shutDown() } }
        #expect(try await service.call("GetUserNotifications", ["userId": "u-1"], as: .none).status == 200)
        #expect(try await service.call("WatchProduct", ["userId": "u-1", "productId": "p-1"], as: .none).status == 200)
        #expect(try await service.call("GetRecipient", ["userId": "u-1"], as: .none).status == 401)
        #expect(try await service.call("ListDeliveries", [:], as: .none).status == 401)
        #expect(
            try await service.call("GetUserNotifications", ["userId": "u-1"], as: .key(APIKey.generate().text)).status == 401,
            "a key that is presented is still checked")
        // Over HTTP no broker permission stands in for the key: the inbox needs one there regardless.
        for path in ["/v1/users/u-1/notifications", "/v1/rpc/GetUserNotifications"] {
            let method: NIOHTTP1.HTTPMethod = path.hasPrefix("/v1/rpc/") ? .POST : .GET
            let reply = try await SendHTTPTests.call(
                port, method, path, key: nil, body: path.hasPrefix("/v1/rpc/") ? ["userId": "u-1"] : nil)
            #expect(reply.status == 401, "\(path): \(reply.text)")
        }
        let watched = try await SendHTTPTests.call(
            port, .POST, "/v1/rpc/WatchProduct", key: nil, body: ["userId": "u-1", "productId": "p-1"])
        #expect(watched.status == 401)
    }

    @Test("notifyctl onboards, rotates, sets a quota and reads the audit trail with the key from the environment or a file, never argv")
    func notifyctl() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let environment = [
            "NOTIFY_AMQP_URL": service.slot.amqpURL, "NOTIFY_TOPOLOGY_RPC_QUEUE": service.rpcQueue, "NOTIFY_API_KEY": service.slot.adminKey,
        ]
        let created = try NotifyctlProcess.run(["product", "create", "Shop", "--org", "Acme", "--json"], environment)
        #expect(created.status == 0, "\(created.output)")
        let body = try #require(try JSONSerialization.jsonObject(with: Data(created.output.utf8)) as? [String: Any])
        let productKey = try #require((body["product"] as? [String: Any])?["apiKey"] as? String)
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("notifyctl-\(service.id)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let keyFile = directory.appendingPathComponent("key")
        try Data(productKey.utf8).write(to: keyFile)

        let shown = try NotifyctlProcess.run(
            ["product", "show", "--api-key-file", keyFile.path], environment.merging(["NOTIFY_API_KEY": ""]) { $1 })
        #expect(shown.status == 0 && shown.output.contains("Shop") && shown.output.contains("Acme"), "\(shown.output)")
        let rotated = try NotifyctlProcess.run(["key", "rotate", "--api-key-file", keyFile.path], environment)
        #expect(rotated.status == 0 && rotated.output.contains("new key (shown once): fmk_"), "\(rotated.output)")
        let audit = try NotifyctlProcess.run(["audit"], environment)
        #expect(audit.status == 0 && audit.output.contains("key.rotated") && audit.output.contains("product.created"), "\(audit.output)")
        let refused = try NotifyctlProcess.run(["product", "create", "Other"], environment.merging(["NOTIFY_API_KEY": productKey]) { $1 })
        #expect(refused.status != 0 && refused.output.contains("403"), "\(refused.output)")
        let productID = try #require((body["product"] as? [String: Any])?["id"] as? String)
        let quota = try NotifyctlProcess.run(["product", "quota", productID, "--per-second", "50"], environment)
        #expect(quota.status == 0 && quota.output.contains("50/s, burst 1000"), "\(quota.output)")
        let badQuota = try NotifyctlProcess.run(["product", "quota", productID, "--per-second", "5", "--burst", "10"], environment)
        #expect(badQuota.status != 0 && badQuota.output.contains("quota.burst"), "\(badQuota.output)")
        let ownQuota = try NotifyctlProcess.run(
            ["product", "quota", productID, "--default"], environment.merging(["NOTIFY_API_KEY": productKey]) { $1 })
        #expect(ownQuota.status != 0 && ownQuota.output.contains("403"), "a product does not set its own quota: \(ownQuota.output)")
        let admin = try NotifyctlProcess.run(["key", "new-admin"], [:])
        #expect(admin.status == 0 && APIKey(parsing: admin.output.trimmingCharacters(in: .whitespacesAndNewlines)) != nil)
    }
}
