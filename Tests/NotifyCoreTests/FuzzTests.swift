import Foundation
import PropertyBased
import Testing

@testable import NotifyCore

/// Fuzzing the whole path an untrusted publisher reaches: decode → validate → render for both events, every RPC
/// request, and the inventory service's `GetInventoryList` reply. Inputs are the catalog's examples mutated by
/// random recipes, byte-level and structure-aware (values swapped for hostile ones: huge and tiny numbers, far
/// dates, control characters, deep nesting). A trap anywhere kills the test process, so a pass means zero crashes;
/// the checks also hold every rejection to a one-line sentence that carries no payload.
///
/// Each target runs for `NOTIFY_FUZZ_SECONDS` (default 15, so about a minute in `make test`; `make fuzz` runs longer).
@Suite("Fuzzing: untrusted input never traps")
struct FuzzTests {
    static let seconds = Double(ProcessInfo.processInfo.environment["NOTIFY_FUZZ_SECONDS"] ?? "") ?? 15
    static let now = Date()

    @Test("PaymentProcessed: decode, validate, render")
    func payments() async throws {
        let renderer = try TemplateTests.shippedRenderer()
        let decoder = EventDecoder()
        let runs = await Self.fuzz(seeds: Seeds.payments) { body in
            do {
                let decoded = try decoder.decode(routingKey: "payment.processed", messageID: nil, body: body, now: Self.now)
                guard case .payment(let payment) = decoded.event else {
                    Issue.record("not a payment")
                    return
                }
                _ = renderer.notification(for: payment, eventKey: decoded.key, id: "n")
                for currency in ["USD", "JPY", "KWD", payment.currency] { _ = MoneyFormat.display(payment.amount, currency: currency) }
            } catch {
                Self.check(error)
            }
        }
        #expect(runs > 0)
    }

    @Test("JSON: the service's parser accepts, refuses and reads mutated events as Foundation's does")
    func parser() async throws {
        let runs = await Self.fuzz(seeds: Seeds.payments + Seeds.adjustments + Seeds.requests) { body in
            // Where Foundation's parser would see them: valid UTF-8, not too deep (JSONInput checks both first).
            guard String(validating: body, as: UTF8.self) != nil, JSONInput.nestingDepth(body) <= JSONInput().maxDepth else { return }
            try? JSONParserTests.agree(body)
        }
        #expect(runs > 0)
    }

    @Test("InventoryAdjusted: decode, validate, the stock rule, OutOfStock and notices")
    func adjustments() async throws {
        let renderer = try TemplateTests.shippedRenderer()
        let decoder = EventDecoder()
        let runs = await Self.fuzz(seeds: Seeds.adjustments) { body in
            do {
                let decoded = try decoder.decode(routingKey: "inventory.adjusted", messageID: "m", body: body, now: Self.now)
                guard case .inventory(let adjustment) = decoded.event else {
                    Issue.record("not an adjustment")
                    return
                }
                let levels: [StockLevel?] = [
                    nil, StockLevel(quantity: 5, outOfStock: false, asOf: .distantPast),
                    StockLevel(quantity: 0, outOfStock: true, asOf: .distantPast),
                    StockLevel(quantity: adjustment.previousQuantity, outOfStock: false, asOf: adjustment.timestamp),
                ]
                for level in levels {
                    let (next, transition) = StockRule.apply(adjustment, to: level, lowStockThreshold: 10)
                    if case .outOfStock(let last) = transition {
                        _ =
                            OutOfStock(
                                eventID: "e", timestamp: adjustment.timestamp, productID: adjustment.productID,
                                lastAvailableQuantity: last, warehouseID: adjustment.warehouseID
                            ).body.bytes
                    }
                    let notice = StockNotice(
                        kind: .lowStock, productID: adjustment.productID, warehouseID: adjustment.warehouseID,
                        quantity: next?.quantity ?? 0, previousQuantity: adjustment.previousQuantity,
                        threshold: 10, eventKey: decoded.key)
                    _ = renderer.notifications(for: notice, recipients: ["u"], newID: { "n" })
                }
            } catch {
                Self.check(error)
            }
        }
        #expect(runs > 0)
    }

    @Test("every RPC request")
    func rpcRequests() async throws {
        let runs = await Self.fuzz(seeds: Seeds.requests) { body in
            let parsers: [([UInt8]) throws -> Void] = [
                { _ = try GetUserNotifications(body: $0) }, { _ = try GetNotificationDetails(body: $0) },
                { _ = try MarkNotificationRead(body: $0) }, { _ = try WatchProduct(body: $0) },
                { _ = try GetStockLevels(body: $0) }, { _ = try UpsertRecipient(body: $0) },
                { _ = try GetRecipient(body: $0) }, { _ = try DeleteRecipient(body: $0) },
                { _ = try GetDeliveryStatus(body: $0) }, { _ = try CreateProduct(body: $0) },
                { _ = try CreateOrganizations(body: $0) }, { _ = try GetProduct(body: $0) }, { _ = try GetOrganization(body: $0) },
                { _ = try UpdateProduct(body: $0) }, { _ = try RotateAPIKey(body: $0) }, { _ = try CreateServiceKey(body: $0) },
                { _ = try ListAuditEvents(body: $0) }, { _ = try SendNotification(body: $0).request.hash },
                { _ = try SendBatch(body: $0).request.hash }, { _ = try CancelRequest(body: $0) },
                { _ = try RollbackTemplate(body: $0) }, { _ = try GetTemplate(body: $0) }, { _ = try ListTemplates(body: $0) },
                // A template that parses is compiled and rendered too, with whatever data the mutation left.
                { body in
                    let publish = try PublishTemplate(body: body)
                    let compiled = try CompiledTemplate(name: publish.name, version: 1, template: publish.template)
                    _ = try compiled.render(locale: "es-MX", data: TemplateData())
                },
                { body in
                    let preview = try PreviewTemplate(body: body)
                    guard case .inline(let template) = preview.source else { return }
                    _ = try CompiledTemplate(name: "", version: 0, template: template).render(locale: preview.locale, data: preview.data)
                },
            ]
            for parse in parsers {
                do { try parse(body) } catch { Self.check(error) }
            }
        }
        #expect(runs > 0)
    }

    @Test("the GetInventoryList reply")
    func inventoryListReply() async throws {
        let runs = await Self.fuzz(seeds: Seeds.inventoryPages) { body in
            do {
                let page = try InventoryList.Page(body: body)
                _ = page.hasMore
            } catch {
                Self.check(error)
            }
        }
        #expect(runs > 0)
    }

    // MARK: - Harness

    /// Runs `target` on mutated seeds until the time is up; returns how many inputs it tried.
    static func fuzz(seeds: [[UInt8]], _ target: @escaping @Sendable ([UInt8]) -> Void) async -> Int {
        let deadline = ContinuousClock.now + .seconds(seconds)
        let round = 500
        var runs = 0
        repeat {
            await propertyCheck(count: round, input: Gen.int(in: 0...(seeds.count - 1)), Mutator.recipe) { seed, recipe in
                target(Mutator.apply(recipe, to: seeds[seed]))
            }
            runs += round
        } while ContinuousClock.now < deadline
        return runs
    }

    /// A rejection is one line naming a field or cause, short, with no control characters.
    static func check(_ error: any Error) {
        let detail: String
        switch error {
        case let rejection as Rejection: detail = rejection.detail
        case let failure as CommandFailure: detail = failure.message
        default:
            Issue.record("unexpected error type \(type(of: error))")
            return
        }
        #expect(detail.count <= 300, "detail too long: \(detail.prefix(80))")
        #expect(!detail.unicodeScalars.contains { $0.properties.generalCategory == .control }, "control character in detail")
    }
}

/// Random but reproducible edits of a seed, driven by a recipe of integers (which the property checker shrinks).
enum Mutator {
    static let recipe = Gen.int(in: 0...Int(Int32.max)).array(of: 0...8)

    /// Values that have broken parsers and formatters before.
    nonisolated(unsafe) static let hostileValues: [Any] = [
        0, -1, 1, 1.005, 2.675, 0.1 + 0.2, 1e-9, 999_999_999_999.995, 1_000_000_000_000, 1_000_000_000_001, 9.9e15,
        1e308, -1e308, Double.leastNonzeroMagnitude, Int64.max, Int64.min, 4_294_967_296, true, false, NSNull(),
        "", "x", String(repeating: "é", count: 200), String(repeating: "a", count: 5000), "\u{0}\n\r\t\u{1b}[31m",
        "\u{202e}rtl", "🧨💥", "9999-12-31T23:59:59Z", "0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z",
        "2024-02-29T23:59:60.999999999999+23:59", "2024-07-04T14:48:00Z", "confirmed", "failed", "USD", "JPY", "KWD",
        ["nested": ["deeper": [1, 2, 3]]], [[[[[[[[[[1]]]]]]]]]], [String](),
    ]

    static func apply(_ recipe: [Int], to seed: [UInt8]) -> [UInt8] {
        var bytes = seed
        for step in recipe {
            let argument = step / 16
            switch step % 16 {
            case 0 where !bytes.isEmpty: bytes[argument % bytes.count] ^= UInt8(1 << (argument % 8))
            case 1: bytes.insert(UInt8(truncatingIfNeeded: argument), at: bytes.isEmpty ? 0 : argument % bytes.count)
            case 2 where !bytes.isEmpty:
                let start = argument % bytes.count
                bytes.removeSubrange(start..<min(bytes.count, start + 1 + argument % 8))
            case 3 where !bytes.isEmpty: bytes.removeLast(argument % bytes.count)
            case 4 where !bytes.isEmpty:
                let start = argument % bytes.count
                bytes.insert(contentsOf: bytes[start..<min(bytes.count, start + 16)], at: start)
            default: bytes = structural(argument, on: bytes)
            }
        }
        return bytes
    }

    /// Replaces, removes or adds one member somewhere in the JSON object (left alone if it does not parse).
    private static func structural(_ argument: Int, on bytes: [UInt8]) -> [UInt8] {
        guard var object = (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any] else { return bytes }
        let value = hostileValues[argument % hostileValues.count]
        edit(&object, argument / hostileValues.count, value)
        guard let data = try? JSONSerialization.data(withJSONObject: object) else { return bytes }
        return Array(data)
    }

    private static func edit(_ object: inout [String: Any], _ choice: Int, _ value: Any) {
        let keys = object.keys.sorted()
        guard !keys.isEmpty else {
            object["k"] = value
            return
        }
        let key = keys[choice % keys.count]
        switch choice / keys.count % 4 {
        case 0: object.removeValue(forKey: key)
        case 1 where object[key] is [String: Any]:
            var nested = object[key] as! [String: Any]
            edit(&nested, choice / keys.count / 4, value)
            object[key] = nested
        case 2: object[key + "x"] = value
        default: object[key] = value
        }
    }
}

/// The catalog's examples and the contract's request shapes.
enum Seeds {
    static let payments = [
        PaymentProcessedTests.catalogExample,
        #"{"transactionId":"t","userId":"u","orderId":"o","amount":1234.5,"currency":"KWD","status":"failed","timestamp":"2026-11-21T10:00:00.123+02:00","paymentMethod":"PayPal","paymentId":"p","subscriptionId":"s"}"#,
    ].map { Array($0.utf8) }

    static let adjustments = [
        #"{"eventId":"evt_inv_adj_3e92df","eventType":"InventoryAdjusted","timestamp":"2024-04-10T09:45:33Z","data":{"adjustmentId":"adj_20241015","sku":"SKU-MOUSE-ERGO","productName":"Ergonomic Wireless Mouse","warehouseId":"wh_east_01","adjustmentType":"decrease","previousQuantity":340,"adjustedQuantity":-18,"newQuantity":322,"reason":"damaged_goods","notes":"18 units found damaged","adjustedBy":"warehouse_mgr_alee"},"metadata":{"correlationId":"corr_adj_002","version":"1.0.0"}}"#,
        #"{"event_id":"e-1","timestamp":"2026-11-21T10:00:00Z","product_id":"p-1","warehouse_id":"w","adjusted_quantity":-3,"new_quantity":0,"adjustment_reason":"sale","adjusted_by":"pos"}"#,
    ].map { Array($0.utf8) }

    static let requests = [
        #"{"userId":"123e4567-e89b-12d3-a456-426614174000","status":"unread","limit":20,"offset":0}"#,
        #"{"notificationId":"8d3c7f0e-8b7e-4c36-9d4b-2f1b4c1e9a10","userId":"u-1"}"#,
        #"{"userId":"u-1","productId":"p-1"}"#,
        #"{"productId":"p-1","limit":500}"#,
        #"{"userId":"u-1","email":"Ana@bücher.example","phone":"+49 151 1234","locale":"de-DE","timezone":"Europe/Berlin","pushTokens":[{"platform":"apns","token":"ab12"}]}"#,
        #"{"userId":"u-1","optOuts":[{"channel":"sms"},{"channel":"email","category":"NEWSLETTER"}]}"#,
        #"{"product":{"name":"Shop","active":true},"organizations":[{"name":"Acme"},{"name":"Globex","active":false}]}"#,
        #"{"productId":"8d3c7f0e-8b7e-4c36-9d4b-2f1b4c1e9a10","organizations":[{"name":"Acme"}]}"#,
        #"{"id":"8d3c7f0e-8b7e-4c36-9d4b-2f1b4c1e9a10","name":"New name","active":false}"#,
        #"{"keyId":"abcdefghij234567"}"#,
        #"{"name":"orders-service","scopes":["inbox-read","recipients"]}"#,
        #"{"entity":"product:x","actor":"admin","from":"2026-01-01T00:00:00Z","limit":50,"cursor":"123"}"#,
        #"{"channels":["email","sms"],"message_category":"OTP","recipient":{"userId":"u-1","email":"a@b.example","phone":"+15005550006"},"content":{"title":"Code","body":"Your code is 123456","subject":"Sign in","html":"<b>123456</b>"},"idempotency_key":"k-1"}"#,
        #"{"channels":["email"],"messageCategory":"INVOICE","recipient":{"email":"a@b.example"},"content":{"title":"t","body":"b"},"retryEnabled":false,"scheduledAt":"2026-12-05T10:00:00+01:00"}"#,
        #"{"channel":"push","messageCategory":"NEWSLETTER","recipient":{"email":"x@y.example"},"content":{"title":"t","body":"b"},"retryEnabled":true}"#,
        #"{"channel":"sms","message_category":"PROMOTIONAL_OFFER","recipients":[{"userId":"u-1"},{"phone":"+15005550006"}],"content":{"title":"t","body":"b"}}"#,
        #"{"request_id":"6f1c7a52-3b0e-4a59-9c57-2d3f2a1e9b10"}"#,
        #"{"name":"order-shipped","template":{"title":"Order {{orderId}}","body":"Hi {{name}}{{#items}} {{title}}{{/items}}","email":{"subject":"S {{orderId}}","html":"<p>{{name}}</p>"},"sms":{"body":"{{orderId}}"},"push":{"title":"P"},"locales":{"es":{"title":"Pedido {{orderId}}","body":"Hola"},"es-MX":{"title":"t","body":"{{^none}}b{{/none}}"}}}}"#,
        #"{"template":{"title":"{{a}} {{b.c}}","body":"{{#list}}{{.}}{{/list}}"},"data":{"a":1.5,"b":{"c":null},"list":[1,"x",true]},"locale":"zh-Hant-TW"}"#,
        #"{"name":"otp","version":3}"#,
        #"{"after":"m","limit":10}"#,
        #"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u","locale":"es-MX"},"template":{"name":"otp","data":{"code":"123"}},"locale":"de"}"#,
    ].map { Array($0.utf8) }

    static let inventoryPages = [
        #"{"items":[{"productId":"p-1","sku":"SKU-1","name":"Mouse","quantity":0,"location":"wh_east_01","category":"peripherals"},{"productId":"p-2","quantity":-2}],"page":1,"pageSize":100,"total":2}"#
    ].map { Array($0.utf8) }
}
