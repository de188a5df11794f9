import Foundation
import Postgres
import StackSupport
import Testing

/// Products' templates as a product's client uses them: published, previewed, sent in each recipient's language,
/// rolled back, audited, and seen by every daemon within a second.
@Suite(
    "Templates at run time: publish, preview, send in the recipient's language, roll back; every daemon within a second", .needsStack,
    .serialized)
struct ProductTemplateFlowTests {
    nonisolated(unsafe) static let shipped: [String: Any] = [
        "title": "Order {{orderId}} shipped", "body": "Hi {{name}}, order {{orderId}} is on its way.",
        "email": ["subject": "Your order {{orderId}} has shipped", "html": "<p>Hi {{name}}</p>"],
        "locales": [
            "es": ["title": "Pedido {{orderId}} enviado", "body": "Hola {{name}}, tu pedido {{orderId}} va en camino."],
            "es-MX": ["title": "Pedido {{orderId}} en camino", "body": "Hola {{name}}, ya va tu pedido {{orderId}}."],
        ],
    ]

    static func code(_ reply: ServiceHarness.Reply) -> String? { TenantTests.code(reply) }
    static func message(_ reply: ServiceHarness.Reply) -> String { (reply.body["error"] as? [String: Any])?["message"] as? String ?? "" }

    @Test(
        "publish (201, then 200 unchanged), preview with the error pointed at, send by email in each recipient's language, roll back; audited"
    )
    func publishSendRollback() async throws {
        let service = try await SendTests.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let key = shop.productKey

        let first = try await service.call("PublishTemplate", ["name": "order-shipped", "template": Self.shipped], as: .key(key))
        #expect(first.status == 201 && first.body["version"] as? Int == 1, "\(first.raw)")
        let again = try await service.call("PublishTemplate", ["name": "order-shipped", "template": Self.shipped], as: .key(key))
        #expect(again.status == 200 && again.body["unchanged"] as? Bool == true && again.body["version"] as? Int == 1)
        let broken = try await service.call(
            "PublishTemplate",
            [
                "name": "order-shipped",
                "template": [
                    "title": "t", "body": "Hi\n{{#items}}{{name}}",
                ],
            ], as: .key(key))
        #expect(broken.status == 400 && Self.message(broken).contains("'template.body' does not compile: line 2"), "\(broken.raw)")
        let organization = shop.organizations[0].key
        #expect(try await service.call("PublishTemplate", ["name": "x", "template": Self.shipped], as: .key(organization)).status == 403)

        // Preview: a stored version in a recipient's language; a name the data lacks is pointed at.
        let preview = try await service.call(
            "PreviewTemplate",
            [
                "name": "order-shipped", "locale": "es-AR", "data": ["orderId": 42, "name": "Ana"],
            ], as: .key(organization))
        #expect(
            preview.status == 200 && preview.body["title"] as? String == "Pedido 42 enviado" && preview.body["locale"] as? String == "es")
        let lacking = try await service.call("PreviewTemplate", ["name": "order-shipped", "data": ["orderId": 42]], as: .key(key))
        #expect(lacking.status == 400 && Self.message(lacking).contains("lacks 'name'"))
        let other = try await TenantTests.onboard(service, name: "Other")
        #expect(
            try await service.call("GetTemplate", ["name": "order-shipped"], as: .key(other.productKey)).status == 404,
            "another product's templates are not there for it")

        // Sends: the directory's language, the recipient's own, the request's; the base for one with none.
        let run = service.id
        #expect(
            try await service.call(
                "UpsertRecipient", ["userId": "ana", "email": "ana-\(run)@example.com", "locale": "es-MX"],
                as: .key(key)
            ).status == 200)
        let batch = try await service.call(
            "SendBatch",
            [
                "channels": ["email", "in-app"], "messageCategory": "ORDER_CONFIRMATION", "locale": "es",
                "recipients": [
                    ["userId": "ana"], ["email": "bo-\(run)@example.com", "locale": "en-GB"], ["email": "cy-\(run)@example.com"],
                ],
                "template": ["name": "order-shipped", "data": ["orderId": 7, "name": "friend"]],
            ], as: .key(key))
        #expect(batch.status == 202, "\(batch.raw)")
        let subjects = [("ana", "Pedido 7 en camino"), ("bo", "Your order 7 has shipped"), ("cy", "Pedido 7 enviado")]
        for (user, subject) in subjects {
            let mails = await Maildir.wait(to: "\(user)-\(run)@example.com", count: 1)
            #expect(mails.count == 1 && mails.first?.header("Subject") == subject, "\(user): \(mails.first?.header("Subject") ?? "none")")
        }
        let requestID = try #require(batch.body["requestId"] as? String)
        let metadata = try await service.db.withConnection { db in
            try db.query("SELECT metadata::text FROM notifications WHERE request_id = \(requestID)::uuid ORDER BY user_id")
                .map { try $0.decode(0, as: String.self) }
        }
        #expect(
            metadata.count == 3
                && metadata.allSatisfy { $0.contains("\"templateVersion\": \"1\"") || $0.contains("\"templateVersion\":\"1\"") },
            "\(metadata)")

        // Refusals name the field: an unknown template, data lacking a name.
        let unknown = try await service.call(
            "SendNotification",
            [
                "channel": "email", "messageCategory": "OTP", "recipient": ["userId": "ana"], "template": ["name": "nope"],
            ], as: .key(key))
        #expect(unknown.status == 400 && Self.message(unknown).contains("'template.name'"))
        let lacking2 = try await service.call(
            "SendNotification",
            [
                "channel": "email", "messageCategory": "OTP", "recipient": ["userId": "ana"],
                "template": ["name": "order-shipped", "data": ["name": "x"]],
            ], as: .key(key))
        #expect(lacking2.status == 400 && Self.message(lacking2).contains("lacks 'orderId'"), "\(lacking2.raw)")

        // Version 2, then back to 1: each send says what was live when it was accepted.
        var second = Self.shipped
        second["title"] = "Shipped: order {{orderId}}"
        #expect(
            try await service.call("PublishTemplate", ["name": "order-shipped", "template": second], as: .key(key)).body["version"] as? Int
                == 2)
        #expect(try await Self.title(service, key: key, user: "dee") == "Shipped: order 9")
        let rolled = try await service.call("RollbackTemplate", ["name": "order-shipped"], as: .key(key))
        #expect(rolled.status == 200 && rolled.body["version"] as? Int == 1 && rolled.body["previousVersion"] as? Int == 2)
        #expect(try await Self.title(service, key: key, user: "dee") == "Order 9 shipped")
        #expect(
            try await service.call("RollbackTemplate", ["name": "order-shipped"], as: .key(key)).status == 409, "nothing before version 1")
        #expect(
            try await service.call("RollbackTemplate", ["name": "order-shipped", "version": 2], as: .key(key)).body["version"] as? Int == 2)
        let listed = try await service.call("ListTemplates", [:], as: .key(organization))
        let summary = try #require((listed.body["templates"] as? [[String: Any]])?.first)
        #expect(
            summary["name"] as? String == "order-shipped" && summary["liveVersion"] as? Int == 2 && summary["latestVersion"] as? Int == 2)
        let got = try await service.call("GetTemplate", ["name": "order-shipped", "version": 1], as: .key(key))
        #expect(
            got.body["live"] as? Bool == false
                && (got.body["template"] as? [String: Any])?["title"] as? String == "Order {{orderId}} shipped")

        let audit = try await service.call("ListAuditEvents", ["entity": "template:order-shipped", "limit": 100], as: .key(key))
        let actions = (audit.body["events"] as? [[String: Any]] ?? []).compactMap { $0["action"] as? String }
        #expect(
            actions.filter { $0 == "template.published" }.count == 2 && actions.filter { $0 == "template.rolled-back" }.count == 2,
            "\(actions)")
    }

    @Test(
        "a product keeps its newest 100 versions of a template (the live one always), and at most 1,000 templates: a new name past them is 409"
    )
    func storageBounded() async throws {
        let service = try await SendTests.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        func publish(_ name: String, _ n: Int) async throws -> ServiceHarness.Reply {
            try await service.call(
                "PublishTemplate", ["name": name, "template": ["title": "T \(n)", "body": "b"]], as: .key(shop.productKey))
        }
        for n in 1...102 { #expect(try await publish("often", n).status == 201) }
        let product = try #require(UUID(uuidString: shop.productID))
        let kept = try await service.db.withConnection { db in
            try db.query("SELECT min(version), count(*) FROM template_versions WHERE product_id = \(product) AND name = 'often'")[0]
        }
        #expect(try kept.decode(0, as: Int.self) == 3 && kept.decode(1, as: Int.self) == 100, "the newest 100 kept")
        let rollback = try await service.call("RollbackTemplate", ["name": "often", "version": 2], as: .key(shop.productKey))
        #expect(
            rollback.status == 404 || rollback.status == 409 || rollback.status == 400,
            "a deleted version cannot come back: \(rollback.raw)")

        // 998 more names written straight to the store (as publishing them would), then the thousandth and one.
        _ = try await service.db.withConnection { db in
            _ = try db.execute(
                PGQuery(
                    unsafeSQL: """
                        INSERT INTO template_versions (product_id, name, version, definition, hash, created_by)
                        SELECT '\(shop.productID)'::uuid, 'filler-' || i, 1, '{}', 'h', 'test' FROM generate_series(1, 998) i
                        """))
            _ = try db.execute(
                PGQuery(
                    unsafeSQL: """
                        INSERT INTO templates (product_id, name, live_version) SELECT '\(shop.productID)'::uuid, 'filler-' || i, 1 FROM generate_series(1, 998) i
                        """))
        }
        #expect(try await publish("one-more", 1).status == 201, "the thousandth")
        let refused = try await publish("past-the-cap", 1)
        #expect(refused.status == 409 && Self.code(refused) == "too-many-templates", "\(refused.raw)")
        #expect(try await publish("often", 200).status == 201, "a new version of one it has is still published")
    }

    @Test("a publish through one daemon reaches sends through another within a second")
    func secondDaemon() async throws {
        let (service, firstPort) = try await SendHTTPTests.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let key = shop.productKey
        let port = try freeLoopbackPort()
        let other = try DaemonProcess(environment: service.environment.merging(["NOTIFY_HTTP_PORT": String(port)]) { $1 })
        defer { other.stop() }
        #expect(await other.waitForLog("ready"))

        #expect(
            try await service.call("PublishTemplate", ["name": "order-shipped", "template": Self.shipped], as: .key(key)).status == 201)
        // The second daemon (its own listener) has version 1 compiled and confirmed.
        #expect(try await Self.httpTitle(service, port: port, key: key) == "Order 9 shipped")
        var second = Self.shipped
        second["title"] = "Shipped: order {{orderId}}"
        // Published through the first daemon's listener: the second learns of it from the database alone.
        let put = try await SendHTTPTests.call(firstPort, .PUT, "/v1/templates/order-shipped", key: key, body: ["template": second])
        #expect(put.status == 201 && put.json["version"] as? Int == 2, "\(put.text)")
        let published = ContinuousClock.now
        try await Task.sleep(for: .milliseconds(1_050))
        for _ in 0..<4 {
            #expect(
                try await Self.httpTitle(service, port: port, key: key) == "Shipped: order 9",
                "a second after the publish, on the second daemon")
            #expect(try await Self.title(service, key: key, user: "eve") == "Shipped: order 9", "and through the queue")
        }
        #expect(ContinuousClock.now - published < .seconds(10))
    }

    @Test("notifyctl: publish a template file, refuse a broken one by its line, preview, send with it, list, show, roll back")
    func notifyctl() async throws {
        let service = try await SendTests.service()
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let environment = [
            "NOTIFY_AMQP_URL": service.slot.amqpURL, "NOTIFY_TOPOLOGY_RPC_QUEUE": service.rpcQueue, "NOTIFY_API_KEY": shop.productKey,
        ]
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("templates-\(service.id)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("shipped.json").path
        try JSONSerialization.data(withJSONObject: Self.shipped).write(to: URL(fileURLWithPath: file))
        let broken = folder.appendingPathComponent("broken.json").path
        try Data(#"{"title": "t", "body": "line one\n{{#items}}"}"#.utf8).write(to: URL(fileURLWithPath: broken))

        let published = try NotifyctlProcess.run(["template", "publish", "order-shipped", file], environment)
        #expect(published.status == 0 && published.output.contains("version 1 is live"), "\(published.output)")
        let refused = try NotifyctlProcess.run(["template", "publish", "order-shipped", broken], environment)
        #expect(refused.status != 0 && refused.output.contains("'template.body' does not compile: line 2"), "\(refused.output)")
        let preview = try NotifyctlProcess.run(
            ["template", "preview", "order-shipped", "--locale", "es-MX", "--data", #"{"orderId": 5, "name": "Ana"}"#],
            environment)
        #expect(preview.status == 0 && preview.output.contains("Pedido 5 en camino"), "\(preview.output)")
        let draft = try NotifyctlProcess.run(["template", "preview", "--file", broken], environment)
        #expect(draft.status != 0 && draft.output.contains("line 2"), "\(draft.output)")

        let address = "ctl-template-\(service.id)@example.com"
        let sent = try NotifyctlProcess.run(
            [
                "send", "--channel", "email", "--category", "ORDER_CONFIRMATION", "--email", address,
                "--template", "order-shipped", "--data", #"{"orderId": 8, "name": "Bo"}"#, "--locale", "es",
            ], environment)
        #expect(sent.status == 0, "\(sent.output)")
        #expect(await Maildir.wait(to: address, count: 1).first?.header("Subject") == "Pedido 8 enviado")

        #expect(try NotifyctlProcess.run(["template", "list"], environment).output.contains("order-shipped"))
        let shown = try NotifyctlProcess.run(["template", "show", "order-shipped"], environment)
        #expect(shown.status == 0 && shown.output.contains("Order {{orderId}} shipped"), "\(shown.output)")
        let back = try NotifyctlProcess.run(["template", "rollback", "order-shipped"], environment)
        #expect(back.status != 0 && back.output.contains("409"), "version 1 has nothing before it: \(back.output)")
    }

    /// The title of an in-app notification sent now through the HTTP listener on `port`.
    static func httpTitle(_ service: ServiceHarness, port: Int, key: String) async throws -> String? {
        let http = try await SendHTTPTests.call(
            port, .POST, "/v1/notifications", key: key,
            body: [
                "channel": "in-app", "messageCategory": "ORDER_CONFIRMATION", "recipient": ["userId": "eve"],
                "template": ["name": "order-shipped", "data": ["orderId": 9, "name": "Eve"]],
            ])
        #expect(http.status == 202, "\(http.text)")
        return try await storedTitle(service, try #require(http.json["notificationId"] as? String))
    }

    /// The title of an in-app notification sent now with the template `order-shipped` (order 9).
    static func title(_ service: ServiceHarness, key: String, user: String) async throws -> String? {
        let reply = try await service.call(
            "SendNotification",
            [
                "channel": "in-app", "messageCategory": "ORDER_CONFIRMATION", "recipient": ["userId": user],
                "template": ["name": "order-shipped", "data": ["orderId": 9, "name": "Dee"]],
            ], as: .key(key))
        #expect(reply.status == 202, "\(reply.raw)")
        return try await storedTitle(service, try #require(reply.body["notificationId"] as? String))
    }

    static func storedTitle(_ service: ServiceHarness, _ notification: String) async throws -> String? {
        try await service.db.withConnection { db in
            try db.query("SELECT title FROM notifications WHERE id = \(notification)::uuid").first?.decode(0, as: String.self)
        }
    }
}
