import Foundation
import NotifyCore
import Testing

@Suite("Notification rules and templates")
struct TemplateTests {
    static let configDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Config")

    static func shippedRenderer() throws -> NotificationRenderer {
        let rules = try NotificationRules(json: try Data(contentsOf: configDirectory.appendingPathComponent("notification-rules.json")))
        let directory = configDirectory.appendingPathComponent("templates")
        return NotificationRenderer(
            rules: rules,
            templates: try TemplateCatalog(rules: rules, location: directory.path) { name in
                try? String(contentsOf: directory.appendingPathComponent(name), encoding: .utf8)
            })
    }

    static func payment(_ status: String, amount: Double = 100.5, currency: String = "USD") throws -> PaymentProcessed {
        try PaymentProcessed([
            "transactionId": "t-1", "userId": "u-1", "orderId": "o-<b>&1", "amount": amount, "currency": currency,
            "status": status, "timestamp": "2024-07-04T14:48:00Z",
        ])
    }

    @Test("confirmed: payment received, amount for its currency, order id, normal priority, in-app")
    func confirmed() throws {
        let notification = try #require(
            try Self.shippedRenderer().notification(
                for: Self.payment("confirmed", amount: 1234.5, currency: "EUR"), eventKey: "k", id: "n-1"))
        #expect(notification.title == "Payment received")
        #expect(notification.message.contains("€1,234.50"))
        #expect(notification.message.contains("o-<b>&1"), "plain text: no HTML escaping")
        #expect(notification.type == "payment")
        #expect(notification.priority == .normal)
        #expect(notification.channels == [.inApp, .email])
        #expect(notification.metadata == ["orderId": "o-<b>&1"])
        let email = try #require(notification.email)
        #expect(email.subject == "Payment received for order o-<b>&1", "subjects are plain text")
        #expect(email.text.contains("for order o-<b>&1."))
        #expect(email.html?.contains("<strong>o-&lt;b&gt;&amp;1</strong>") == true, "values are HTML-escaped in the HTML part")
        #expect(notification.userID == "u-1")
        #expect(notification.sourceEventKey == "k")
    }

    @Test("failed: payment failed at high priority; pending: nothing")
    func failedAndPending() throws {
        let renderer = try Self.shippedRenderer()
        let failed = try #require(renderer.notification(for: try Self.payment("failed"), eventKey: "k", id: "n-1"))
        #expect(failed.title == "Payment failed")
        #expect(failed.priority == .high)
        #expect(renderer.notification(for: try Self.payment("pending"), eventKey: "k", id: "n-1") == nil)
    }

    @Test("a template naming a field the event lacks, not compiling or missing is an error naming the file")
    func brokenTemplates() throws {
        let rules = NotificationRules(rules: [
            NotificationRule(
                event: "PaymentProcessed", status: nil, template: "t", type: "payment", priority: .normal, channels: [.inApp])
        ])
        func catalog(_ files: [String: String]) throws(TemplateError) -> TemplateCatalog {
            try TemplateCatalog(rules: rules, location: "templates") { files[$0] }
        }
        do {
            _ = try catalog(["t.title.mustache": "Hello {{customerName}}", "t.message.mustache": "{{orderId}}"])
            Issue.record("an unknown field must be refused")
        } catch {
            #expect(error.file == "templates/t.title.mustache")
            #expect(error.reason.contains("customerName"))
        }
        do {
            _ = try catalog(["t.title.mustache": "Hello {{#orderId}}", "t.message.mustache": "{{orderId}}"])
            Issue.record("an unclosed section must be refused")
        } catch {
            #expect(error.reason.contains("does not compile"))
        }
        do {
            _ = try catalog(["t.title.mustache": "Hello"])
            Issue.record("a missing part must be refused")
        } catch {
            #expect(error.file == "templates/t.message.mustache")
            #expect(error.reason == "cannot be read")
        }
        #expect(throws: Never.self) { try catalog(["t.title.mustache": "Hello", "t.message.mustache": "{{orderId}}"]) }
    }

    @Test("rules naming unknown events are refused")
    func badRules() {
        #expect(throws: TemplateError.self) {
            try NotificationRules(
                json: Data(#"{"rules":[{"event":"Nope","template":"t","type":"x","priority":"low","channels":["in-app"]}]}"#.utf8))
        }
    }

    @Test("a channel fallback names one of the rule's channels and falls back to SMS, push or webhook outside them")
    func fallbacks() throws {
        func rules(_ channels: String, _ fallback: String) throws(TemplateError) -> NotificationRules {
            try NotificationRules(
                json: Data(
                    #"{"rules":[{"event":"PaymentProcessed","template":"t","type":"x","priority":"high","channels":\#(channels),"fallback":\#(fallback)}]}"#
                        .utf8))
        }
        #expect(try rules(#"["in-app","push"]"#, #"{"push":"sms"}"#).rules[0].fallbacks == [.push: .sms])
        #expect(try rules(#"["sms"]"#, #"{"sms":"push"}"#).rules[0].fallbacks == [.sms: .push])
        for (channels, fallback) in [
            (#"["in-app","push"]"#, #"{"email":"sms"}"#), (#"["push","sms"]"#, #"{"push":"sms"}"#),
            (#"["push"]"#, #"{"push":"email"}"#), (#"["in-app"]"#, #"{"in-app":"sms"}"#),
            (#"["push"]"#, #"{"push":"carrier-pigeon"}"#),
        ] {
            #expect(throws: TemplateError.self, "\(channels) \(fallback)") { try rules(channels, fallback) }
        }
    }
}

@Suite("Inbox request validation")
struct InboxRequestTests {
    @Test("defaults, and 400s that name the field")
    func getUserNotifications() throws {
        let request = try GetUserNotifications(body: Array(#"{"userId":"u-1"}"#.utf8))
        #expect(request == GetUserNotifications(userID: "u-1", unreadOnly: false, limit: 20, offset: 0))
        for (body, field) in [
            (#"{}"#, "userId"), (#"{"userId":"u","limit":0}"#, "limit"), (#"{"userId":"u","limit":101}"#, "limit"),
            (#"{"userId":"u","offset":-1}"#, "offset"), (#"{"userId":"u","status":"new"}"#, "status"),
            (#"{"userId":"u","limit":2.5}"#, "limit"),
        ] {
            do {
                _ = try GetUserNotifications(body: Array(body.utf8))
                Issue.record("accepted \(body)")
            } catch {
                #expect(error.status == 400)
                #expect(error.message.contains("'\(field)'"), "\(error.message)")
            }
        }
        #expect(throws: CommandFailure.badRequest("request body: body is not valid JSON")) {
            try GetUserNotifications(body: Array("nope".utf8))
        }
    }
}

@Suite("JSON writer")
struct JSONValueTests {
    @Test("escapes what RFC 8259 requires and round-trips through a JSON parser")
    func roundTrip() throws {
        let text = "quote \" backslash \\ newline \n tab \t nul \u{0} bell \u{7} — ünïcødé 🚀 </script>"
        let value = JSONValue.object([("text", .string(text)), ("n", .int(-42)), ("ok", .bool(true)), ("list", .array([.int(1)]))])
        let parsed = try JSONSerialization.jsonObject(with: Data(value.bytes)) as? [String: Any]
        #expect(parsed?["text"] as? String == text)
        #expect(parsed?["n"] as? Int == -42)
        #expect(String(decoding: JSONValue.object([("a", .int(1)), ("b", .string("x"))]).bytes, as: UTF8.self) == #"{"a":1,"b":"x"}"#)
    }
}
