import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import StackSupport
import Testing

/// The HTTP API as a product's client uses it: the same commands as over RPC, with HTTP statuses and headers, and
/// the OpenAPI document that describes them.
@Suite("The send API over HTTP: onboarding, sends, tracking, refusals, /openapi.json", .needsStack, .serialized)
struct SendHTTPTests {
    struct Reply {
        var status: Int
        var headers: HTTPHeaders
        var text: String
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:] }
        var code: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    static func call(_ port: Int, _ method: HTTPMethod, _ path: String, key: String?, body: Any? = nil, raw: [UInt8]? = nil) async throws
        -> Reply
    {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)")
        request.method = method
        if let key { request.headers.add(name: "x-api-key", value: key) }
        if let bytes = try raw ?? body.map({ Array(try JSONSerialization.data(withJSONObject: $0)) }) {
            request.headers.add(name: "content-type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: bytes))
        }
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 4 << 20)
        return Reply(status: Int(response.status.code), headers: response.headers, text: String(buffer: body))
    }

    static func service(_ settings: [String: String] = [:]) async throws -> (ServiceHarness, Int) {
        let port = try freeLoopbackPort()
        let service = try await ServiceHarness(
            environment: EmailDeliveryTests.smtpEnvironment.merging(settings) { $1 }
                .merging(["NOTIFY_HTTP_PORT": String(port)]) { $1 })
        return (service, port)
    }

    @Test("onboard, send by email, repeat, track: 201, 202, 208, 409, 200 and 404 across tenants; the email arrives once")
    func sendAndTrack() async throws {
        let (service, port) = try await Self.service()
        defer { Task { await service.shutDown() } }
        let created = try await Self.call(
            port, .POST, "/v1/products", key: service.slot.adminKey,
            body: [
                "product": ["name": "Web shop", "active": true], "organizations": [["name": "Acme"]],
            ])
        #expect(created.status == 201, "\(created.text)")
        let product = try #require(created.json["product"] as? [String: Any])
        let key = try #require(product["apiKey"] as? String)
        let productID = try #require(product["id"] as? String)
        let other = try await TenantTests.onboard(service, name: "Other")

        let address = "http-\(service.id)@example.com"
        let send: [String: Any] = [
            "message_category": "ORDER_CONFIRMATION", "recipient": ["email": address],
            "content": ["title": "Order 7", "body": "On its way"], "idempotency_key": "order-7",
        ]
        let accepted = try await Self.call(port, .POST, "/v1/notifications/email", key: key, body: send)
        #expect(accepted.status == 202, "\(accepted.text)")
        let requestID = try #require(accepted.json["requestId"] as? String)
        let again = try await Self.call(port, .POST, "/v1/notifications/email", key: key, body: send)
        #expect(again.status == 208 && again.json["requestId"] as? String == requestID)
        var changed = send
        changed["content"] = ["title": "Order 8", "body": "On its way"]
        #expect(try await Self.call(port, .POST, "/v1/notifications/email", key: key, body: changed).status == 409)
        #expect(await Maildir.wait(to: address, count: 1).count == 1)

        let page = try await Self.call(port, .GET, "/v1/messages?limit=10&page=1&status=sent", key: key)
        let deadline = ContinuousClock.now + .seconds(20)
        var messages = page.json["messages"] as? [[String: Any]] ?? []
        while messages.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            messages =
                try await Self.call(port, .GET, "/v1/messages?limit=10&status=sent", key: key).json["messages"] as? [[String: Any]] ?? []
        }
        #expect(
            messages.count == 1 && messages.first?["requestId"] as? String == requestID
                && messages.first?["productId"] as? String == productID)
        let id = try #require(messages.first?["messageId"] as? String)
        #expect(try await Self.call(port, .GET, "/v1/messages/\(id)", key: key).json["channel"] as? String == "email")
        #expect(try await Self.call(port, .GET, "/v1/messages/\(id)", key: other.productKey).status == 404)
        #expect(try await Self.call(port, .GET, "/v1/messages?limit=abc", key: key).status == 400)
        // The generic route carries exactly the RPC body.
        let viaRPC = try await Self.call(port, .POST, "/v1/rpc/GetMessage", key: key, body: ["messageId": id])
        #expect(viaRPC.status == 200 && viaRPC.json["messageId"] as? String == id)
        // The product's own resource, by its id in the path.
        let read = try await Self.call(port, .GET, "/v1/products/\(productID)", key: key)
        #expect(read.status == 200 && read.json["name"] as? String == "Web shop")
        let renamed = try await Self.call(port, .PATCH, "/v1/products/\(productID)", key: key, body: ["name": "Shop"])
        #expect(renamed.status == 200, "\(renamed.text)")
    }

    @Test(
        "the seed's per-channel bodies: email {to, subject, html} (text from the HTML), SMS {to, body}, push {token, title, body}, template_fields; refusals name payload fields"
    )
    func seedPayloads() async throws {
        let (twilio, fcm) = (try TwilioFake(), try FCMFake())
        let (service, port) = try await Self.service(twilio.environment.merging(fcm.environment) { $1 })
        defer { Task { await service.shutDown() } }
        let key = try await TenantTests.onboard(service).productKey
        let address = "seed-\(service.id)@example.com"
        let email = try await Self.call(
            port, .POST, "/v1/notifications/email", key: key,
            body: [
                "message_category": "ORDER_CONFIRMATION", "retry_enabled": true,
                "payload": [
                    "to": address, "sender": "Shop", "subject": "Order 9", "html": "<p>Your order <b>9</b> &amp; more</p><p>Thanks</p>",
                ],
            ])
        #expect(email.status == 202, "\(email.text)")
        let mail = try #require(await Maildir.wait(to: address, count: 1).first)
        #expect(
            mail.header("Subject") == "Order 9"
                && mail.text.replacingOccurrences(of: "\r\n", with: "\n").contains("Your order 9 & more\n\nThanks")
                && mail.text.contains("<b>9</b>"), "\(mail.text)")

        let sms = try await Self.call(
            port, .POST, "/v1/notifications/sms", key: key,
            body: [
                "message_category": "OTP", "payload": ["to": "+14155550199", "sender": "Shop", "body": "123456 is your code"],
            ])
        #expect(sms.status == 202, "\(sms.text)")
        let push = try await Self.call(
            port, .POST, "/v1/notifications/push", key: key,
            body: [
                "message_category": "OTP", "payload": ["token": "seed-device-1", "title": "Your code", "body": "123456"],
            ])
        #expect(push.status == 202, "\(push.text)")
        let deadline = ContinuousClock.now + .seconds(20)
        var (texts, tokens) = ([[String: Any]](), [[String: Any]]())
        while texts.isEmpty || tokens.isEmpty, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(200))
            (texts, tokens) = (try await twilio.messages(), try await fcm.messages())
        }
        #expect(texts.map { "\($0["to"] ?? "") \($0["body"] ?? "")" } == ["+14155550199 123456 is your code"], "\(texts)")
        #expect(tokens.map { $0["token"] as? String } == ["seed-device-1"], "\(tokens)")

        #expect(
            try await service.call(
                "PublishTemplate", ["name": "receipt", "template": ["title": "Receipt {{order}}", "body": "Order {{order}} paid"]],
                as: .key(key)
            ).status == 201)
        let templated = try await Self.call(
            port, .POST, "/v1/notifications/email", key: key,
            body: [
                "message_category": "PAYMENT_CONFIRMATION",
                "payload": [
                    "to": address,
                    "template_fields": ["template_name": "receipt", "global_merge_vars": [["name": "order", "content": "42"]]],
                ],
            ])
        #expect(templated.status == 202, "\(templated.text)")
        #expect(await Maildir.wait(to: address, count: 2).contains { $0.header("Subject") == "Receipt 42" })

        for (path, body, field) in [
            (
                "/v1/notifications/email", ["message_category": "OTP", "payload": ["to": "not-an-address", "subject": "s", "html": "h"]],
                "payload.to"
            ),
            ("/v1/notifications/email", ["message_category": "OTP", "payload": ["to": address, "subject": "s"]], "payload.html"),
            ("/v1/notifications/sms", ["message_category": "OTP", "payload": ["to": "+14155550199"]], "payload.body"),
            (
                "/v1/notifications/email", ["message_category": "OTP", "payload": ["to": address], "recipient": ["email": address]],
                "payload"
            ),
            ("/v1/notifications/webhook", ["message_category": "OTP", "payload": ["to": address]], "payload"),
        ] as [(String, [String: Any], String)] {
            let refused = try await Self.call(port, .POST, path, key: key, body: body)
            #expect(refused.status == 400 && refused.text.contains("'\(field)"), "\(path): \(refused.text)")
        }
    }

    @Test("refusals over HTTP: 401, 403, 400 naming the field, 413 past the limit, 404 for no command, 429 with Retry-After")
    func refusals() async throws {
        let (service, port) = try await Self.service(["NOTIFY_SEND_QUOTA_PER_SECOND": "1", "NOTIFY_SEND_QUOTA_BURST": "1000"])
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let send: [String: Any] = [
            "messageCategory": "OTP", "recipient": ["phone": "+14155550100"], "content": ["title": "t", "body": "b"],
        ]
        #expect(try await Self.call(port, .POST, "/v1/notifications/sms", key: nil, body: send).status == 401)
        #expect(try await Self.call(port, .POST, "/v1/notifications/sms", key: "fmk_nonsense", body: send).status == 401)
        #expect(try await Self.call(port, .POST, "/v1/notifications/sms", key: service.slot.adminKey, body: send).status == 403)
        let noCategory = try await Self.call(
            port, .POST, "/v1/notifications/sms", key: shop.productKey,
            body: ["recipient": ["phone": "+14155550100"], "content": ["title": "t", "body": "b"]])
        #expect(noCategory.status == 400 && noCategory.text.contains("messageCategory"))
        var twice = send
        twice["channel"] = "email"
        let given = try await Self.call(port, .POST, "/v1/notifications/sms", key: shop.productKey, body: twice)
        #expect(given.status == 400 && given.text.contains("'channel'"), "the path names the channel: \(given.text)")
        #expect(try await Self.call(port, .POST, "/v1/notifications/sms", key: shop.productKey, raw: Array("{not json".utf8)).status == 400)
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(
            try await Self.call(port, .POST, "/v1/notifications/sms", key: shop.productKey, raw: Array(#"{"a":\#(deep)}"#.utf8)).status
                == 400)
        let huge = try await Self.call(
            port, .POST, "/v1/notifications/sms", key: shop.productKey, raw: [UInt8](repeating: 0x20, count: 20_000))
        #expect(huge.status == 413)
        #expect(try await Self.call(port, .POST, "/v1/rpc/NoSuchCommand", key: shop.productKey, body: [:]).status == 404)

        let batch = try await Self.call(
            port, .POST, "/v1/batches", key: shop.productKey,
            body: [
                "channel": "sms", "messageCategory": "NEWSLETTER", "recipients": (0..<1_000).map { ["userId": "u-\($0)"] },
                "content": ["title": "t", "body": "b"],
            ])
        #expect(batch.status == 202, "\(batch.text.prefix(300))")
        let over = try await Self.call(port, .POST, "/v1/notifications/sms", key: shop.productKey, body: send)
        #expect(over.status == 429 && over.code == "over-quota")
        #expect(Int(over.headers.first(name: "retry-after") ?? "") ?? 0 >= 1)
        let refused = try await service.refusals(atLeast: 8).filter { $0.key.hasPrefix("SendNotification ") }
        #expect(refused.values.reduce(0, +) == 8, "every refusal but the 413 is counted, as over RPC: \(refused)")
        #expect(refused.count == 4, "one row per caller and kind: \(refused)")
    }

    @Test("/openapi.json: OpenAPI 3.1, every route and method the listener serves, unique operation ids, the key scheme")
    func openAPI() async throws {
        let (service, port) = try await Self.service()
        defer { Task { await service.shutDown() } }
        let reply = try await Self.call(port, .GET, "/openapi.json", key: nil)
        #expect(reply.status == 200)
        let document = reply.json
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        for path in [
            "/v1/products", "/v1/notifications/email", "/v1/notifications/sms", "/v1/notifications/push", "/v1/messages",
            "/v1/messages/{messageId}", "/v1/batches", "/v1/requests/{requestId}/cancel",
        ] {
            #expect(paths[path] != nil, "\(path)")
        }
        let operations = paths.values.flatMap { $0.values.compactMap { ($0 as? [String: Any])?["operationId"] as? String } }
        #expect(operations.count == Set(operations).count && operations.count >= 24)
        let schemes = (document["components"] as? [String: Any])?["securitySchemes"] as? [String: [String: Any]]
        #expect(schemes?["apiKey"]?["name"] as? String == "x-api-key")
        // Every documented path answers something other than 404 and 405 (an unauthenticated call: 401).
        for (path, methods) in paths {
            for method in methods.keys {
                let concrete = path.replacingOccurrences(
                    of: #"\{[^}]+\}"#, with: "00000000-0000-0000-0000-000000000000", options: .regularExpression)
                let answer = try await Self.call(port, HTTPMethod(rawValue: method.uppercased()), concrete, key: nil, body: [:])
                #expect(answer.status == 401, "\(method) \(path): \(answer.status)")
            }
        }
    }
}
