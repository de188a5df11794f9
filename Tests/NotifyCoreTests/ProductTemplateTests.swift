import Foundation
import Testing

@testable import NotifyCore

@Suite("Products' templates: parts, locales and their fallback, compile errors that point, rendering as a send does")
struct ProductTemplateTests {
    static func template(_ json: String) throws(Rejection) -> ProductTemplate {
        try ProductTemplate(JSONFields(try JSONInput().object(from: Array(json.utf8))))
    }

    static func compiled(_ json: String) throws -> CompiledTemplate {
        try CompiledTemplate(name: "order-shipped", version: 3, template: try template(json))
    }

    static func data(_ json: String) throws -> TemplateData {
        try TemplateData(JSONFields(try JSONInput().object(from: Array(#"{"data":\#(json)}"#.utf8))), key: "data")
    }

    static let shipped = #"""
        {"title": "Order {{orderId}} shipped", "body": "Hi {{name}}, it is on its way.",
         "email": {"subject": "Your order {{orderId}}", "html": "<p>Hi {{name}}</p>{{#items}}<li>{{title}}</li>{{/items}}"},
         "sms": {"body": "{{orderId}} shipped"}, "push": {"title": "Shipped!"},
         "locales": {"es": {"title": "Pedido {{orderId}} enviado", "body": "Hola {{name}}"},
                     "es-MX": {"title": "¡Pedido {{orderId}} en camino!", "body": "Qué onda {{name}}"},
                     "zh-Hant": {"title": "訂單 {{orderId}}", "body": "{{name}} 您好"}}}
        """#

    @Test("a recipient's locale picks the most specific variant: es-MX, es, then the base; any case; no variant mixes languages")
    func localeFallback() throws {
        let template = try Self.template(Self.shipped)
        #expect(template.variant(for: "es-MX").tag == "es-MX")
        #expect(template.variant(for: "es-AR").tag == "es")
        #expect(template.variant(for: "ES-mx").tag == "es-MX")
        #expect(template.variant(for: "zh-Hant-TW").tag == "zh-Hant")
        #expect(
            template.variant(for: "zh").tag == nil && template.variant(for: "en-GB").tag == nil && template.variant(for: nil).tag == nil)
        let compiled = try Self.compiled(Self.shipped)
        let spanish = try compiled.render(locale: "es-CO", data: try Self.data(#"{"orderId": 42, "name": "Ana", "items": []}"#))
        #expect(spanish.title == "Pedido 42 enviado" && spanish.body == "Hola Ana" && spanish.locale == "es")
        #expect(
            spanish.email == MessageContent(subject: "Pedido 42 enviado", text: "Hola Ana", html: nil),
            "a variant's missing channel parts are its own title and body, never the base's English ones")
        #expect(spanish.sms == nil && spanish.push == nil)
    }

    @Test("per-channel parts: email subject, text and HTML (values HTML-escaped only there), SMS and push texts; data values of every kind")
    func channelParts() throws {
        let compiled = try Self.compiled(Self.shipped)
        let data = try Self.data(#"{"orderId": 1005, "name": "Ana <&> Bo", "items": [{"title": "Mug"}, {"title": "Tea & cake"}]}"#)
        let content = try compiled.render(locale: nil, data: data)
        #expect(content.title == "Order 1005 shipped" && content.body == "Hi Ana <&> Bo, it is on its way.")
        #expect(content.email.subject == "Your order 1005" && content.email.text == content.body)
        #expect(content.email.html == "<p>Hi Ana &lt;&amp;&gt; Bo</p><li>Mug</li><li>Tea &amp; cake</li>")
        #expect(content.sms == "1005 shipped")
        #expect(content.push == MessageContent(subject: "Shipped!", text: "Hi Ana <&> Bo, it is on its way.", html: nil))
        #expect(content.channelTexts[.sms]?.text == "1005 shipped" && content.channelTexts[.push]?.subject == "Shipped!")

        let numbers = try CompiledTemplate(
            name: "n", version: 1,
            template: try Self.template(
                #"{"title": "{{whole}} {{fraction}} {{flag}}", "body": "{{#flag}}yes{{/flag}}{{^none}}, none{{/none}}"}"#))
        let rendered = try numbers.render(locale: nil, data: try Self.data(#"{"whole": 3, "fraction": 2.5, "flag": true, "none": null}"#))
        #expect(rendered.title == "3 2.5 true" && rendered.body == "yes, none")
    }

    @Test("a send must give every top-level name its variant uses (null for none); names inside a section are the section's")
    func missingData() throws {
        let compiled = try Self.compiled(Self.shipped)
        do {
            _ = try compiled.render(locale: "en", data: try Self.data(#"{"orderId": 1, "items": []}"#))
            Issue.record("rendered without 'name'")
        } catch let error as Rejection {
            #expect(error.detail.contains("lacks 'name'") && error.detail.contains("version 3"))
        }
        // The Spanish variant does not use `items`: a Spanish recipient needs no list.
        #expect(throws: Never.self) { try compiled.render(locale: "es", data: try Self.data(#"{"orderId": 1, "name": "Ana"}"#)) }
        #expect(throws: Rejection.self) { try compiled.render(locale: "en", data: try Self.data(#"{"orderId": 1, "name": "Ana"}"#)) }
        #expect(throws: Never.self) {
            try compiled.render(locale: "en", data: try Self.data(#"{"orderId": 1, "name": "Ana", "items": null}"#))
        }
        #expect(compiled.names == ["orderId", "name", "items"])
    }

    @Test("a part that does not compile is refused naming its field, line and column; so is an empty rendered title or one too long")
    func errorsPoint() throws {
        func refusal(_ json: String) -> String? {
            do {
                _ = try Self.compiled(json)
                return nil
            } catch { return (error as? Rejection)?.detail }
        }
        #expect(
            refusal(#"{"title": "Hi {{name", "body": "x"}"#)?.hasPrefix("field 'template.title' does not compile: line 1, column ") == true)
        let nested = refusal(#"{"title": "t", "body": "b", "locales": {"de": {"title": "t", "body": "Hallo\n{{#items}}\n{{name}}"}}}"#)
        #expect(nested?.contains("field 'template.locales.de.body' does not compile: line 3") == true, "\(nested ?? "compiled")")
        #expect(nested?.contains("never closed") == true)
        #expect(refusal(#"{"title": "t", "body": "{{#a}}x{{/b}}"}"#)?.contains("closed with another name") == true)
        #expect(throws: Rejection.self) { try Self.template(#"{"title": "t"}"#) }
        #expect(throws: Rejection.self) { try Self.template(#"{"title": "t", "body": "  "}"#) }
        #expect(throws: Rejection.self) {
            try Self.template(#"{"title": "t", "body": "b", "locales": {"en_US": {"title": "t", "body": "b"}}}"#)
        }
        #expect(throws: Rejection.self) {
            try Self.template(
                #"{"title": "t", "body": "b", "locales": {"pt-BR": {"title": "t", "body": "b"}, "pt-br": {"title": "t", "body": "b"}}}"#)
        }

        let titled = try CompiledTemplate(name: "t", version: 1, template: try Self.template(#"{"title": "{{a}}", "body": "b"}"#))
        #expect(throws: Rejection.self) {
            try titled.render(locale: nil, data: try Self.data(#"{"a": "\#(String(repeating: "x", count: 201))"}"#))
        }
        #expect(throws: Rejection.self) { try titled.render(locale: nil, data: try Self.data(#"{"a": null}"#)) }
    }

    @Test("names: lower-case letters, digits, '.', '_', '-', up to 64, not starting with punctuation")
    func names() {
        for good in ["order-shipped", "otp", "v2.receipt_en", String(repeating: "a", count: 64)] {
            #expect(throws: Never.self) { try ProductTemplate.checkName(good) }
        }
        for bad in ["", "-x", "Order", "a b", "ü", "a/b", String(repeating: "a", count: 65)] {
            #expect(throws: Rejection.self) { try ProductTemplate.checkName(bad) }
        }
    }

    @Test("the template commands and a templated send read back what they write; the data's key order does not change the hash")
    func requests() throws {
        let template = try Self.template(Self.shipped)
        let publish = PublishTemplate(name: "order-shipped", template: template)
        #expect(try PublishTemplate(body: publish.body.bytes) == publish)
        #expect(try ProductTemplate(JSONFields(try JSONInput().object(from: template.body.bytes))) == template)
        for request in [RollbackTemplate(name: "a"), RollbackTemplate(name: "a", version: 2)] {
            #expect(try RollbackTemplate(body: request.body.bytes) == request)
        }
        #expect(try GetTemplate(body: GetTemplate(name: "a", version: 7).body.bytes) == GetTemplate(name: "a", version: 7))
        #expect(try ListTemplates(body: ListTemplates(after: "m", limit: 10).body.bytes) == ListTemplates(after: "m", limit: 10))
        let preview = PreviewTemplate(source: .inline(template), data: try Self.data(#"{"b": [1, {"c": null}], "a": "x"}"#), locale: "es")
        #expect(try PreviewTemplate(body: preview.body.bytes) == preview)
        #expect(throws: CommandFailure.self) {
            try PublishTemplate(body: Array(#"{"name": "x", "template": {"title": "{{#a}}", "body": "b"}}"#.utf8))
        }
        #expect(throws: CommandFailure.self) { try RollbackTemplate(body: Array(#"{"name": "x", "version": 0}"#.utf8)) }

        func send(_ tail: String) throws(CommandFailure) -> SendRequest {
            try SendNotification(
                body: Array(#"{"channel":"email","messageCategory":"OTP","recipient":{"userId":"u","locale":"es-MX"},\#(tail)}"#.utf8)
            ).request
        }
        let one = try send(#""template":{"name":"otp","data":{"code":"123","user":{"a":1,"b":2}}},"locale":"de""#)
        let reordered = try send(#""locale":"de","template":{"data":{"user":{"b":2,"a":1},"code":"123"},"name":"otp"}"#)
        #expect(one.hash == reordered.hash && one.locale == "de" && one.recipients[0].locale == "es-MX")
        #expect(try send(#""template":{"name":"otp","data":{"code":"124"}}"#).hash != one.hash)
        #expect(try SendNotification(body: SendNotification(one).body.bytes).request == one)
        #expect(throws: CommandFailure.self) { try send(#""template":{"name":"otp"},"content":{"title":"t","body":"b"}"#) }
        #expect(throws: CommandFailure.self) { try send(#""template":{"name":"OTP!"}"#) }
        #expect(throws: CommandFailure.self) { try send(#""template":{"name":"otp","data":[1]}"#) }
        #expect(throws: CommandFailure.self) { try send(#""template":{"name":"otp"},"locale":"not a tag""#) }
    }

    @Test("a templated notification's SMS and push jobs carry their own parts; email its email; in-app and webhook the title and body")
    func jobs() throws {
        let compiled = try Self.compiled(Self.shipped)
        let content = try compiled.render(locale: nil, data: try Self.data(#"{"orderId": 7, "name": "Ana", "items": []}"#))
        let send = try SendNotification(
            body: Array(
                #"{"channels":["email","sms","push","webhook"],"messageCategory":"OTP","recipient":{"userId":"u"},"template":{"name":"order-shipped"}}"#
                    .utf8)
        ).request
        let notification = send.notification(
            for: send.recipients[0], content: content, template: compiled, id: "n", requestID: "r",
            tenant: Tenant(productID: UUID()), lane: .high)
        #expect(notification.metadata == ["template": "order-shipped", "templateVersion": "3"])
        let plan = try IngestionPlannerTests.planner(delivering: [.email, .sms, .push, .webhook]).delivery.plan(notifications: [
            notification
        ])
        let jobs = try plan.outbox.map { try DeliveryJob(body: Array($0.body.utf8)) }
        let byChannel = Dictionary(uniqueKeysWithValues: jobs.map { ($0.channel, $0.content) })
        #expect(byChannel[.email]?.subject == "Your order 7" && byChannel[.email]?.html?.hasPrefix("<p>Hi Ana</p>") == true)
        #expect(byChannel[.sms]?.text == "7 shipped")
        #expect(byChannel[.push] == MessageContent(subject: "Shipped!", text: "Hi Ana, it is on its way.", html: nil))
        #expect(byChannel[.webhook] == MessageContent(subject: "Order 7 shipped", text: "Hi Ana, it is on its way.", html: nil))
    }
}
