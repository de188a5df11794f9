import Foundation
import PropertyBased
import Testing

@testable import NotifyCore

@Suite("Render budgets: a template over hostile data stops while rendering, naming the field; data has limits")
struct RenderBudgetTests {
    static func compiled(title: String, body: String = "b", html: String? = nil) throws -> CompiledTemplate {
        var template: [String: Any] = ["title": title, "body": body]
        if let html { template["email"] = ["html": html] }
        return try CompiledTemplate(name: "t", version: 1, template: try ProductTemplate(JSONFields(template)))
    }

    /// `object` as a request's `data` arrives: through the service's JSON parser (numbers as it reads them).
    static func data(_ object: [String: Any]) throws -> TemplateData {
        var input = JSONInput()
        input.maxBytes = 1 << 20
        let parsed = try input.object(from: Array(try JSONSerialization.data(withJSONObject: ["data": object])))
        return try TemplateData(JSONFields(parsed, path: "template."), key: "data")
    }

    static var zeros: [Any] { [Any](repeating: 0, count: 1_000) }

    @Test("the issue's request: three nested sections over a thousand zeros is refused within milliseconds, naming data.a")
    func nestedSections() throws {
        let nested = "{{#a}}{{#a}}{{#a}}x{{/a}}{{/a}}{{/a}}"
        for template in [
            try Self.compiled(title: nested), try Self.compiled(title: "t", body: nested), try Self.compiled(title: "t", html: nested),
        ] {
            let started = ContinuousClock.now
            do {
                _ = try template.render(locale: nil, data: try Self.data(["a": Self.zeros]))
                Issue.record("rendered a billion x's")
            } catch {
                #expect("\(error)".contains("field 'template.data.a'"), "\("\(error)")")
                #expect("\(error)".contains("past"))
            }
            #expect(ContinuousClock.now - started < .seconds(2), "stopped while rendering, not after")
        }
    }

    @Test(
        "every render of one request shares one allowance: parts just within their own budgets, rendered for many languages, are refused once the request's steps are spent"
    )
    func requestAllowance() throws {
        // 40 × 500 elements: within a part's 50,000 steps; title, body and HTML take three such parts a render.
        let heavy = "x{{#a}}{{#b}}{{/b}}{{/a}}"
        let template = try Self.compiled(title: heavy, body: heavy, html: heavy)
        let data = try Self.data(["a": [Any](repeating: 0, count: 40), "b": [Any](repeating: 0, count: 500)])
        let one = RenderAllowance()
        _ = try template.render(locale: nil, data: data, allowance: one)
        #expect(one.steps > 60_000, "each render is heavy: \(one.steps) steps")

        let allowance = RenderAllowance()
        var rendered = 0
        do {
            for _ in 0..<50 {
                _ = try template.render(locale: nil, data: data, allowance: allowance)
                rendered += 1
            }
            Issue.record("fifty renders of 144,000 steps each in one request")
        } catch {
            #expect("\(error)".contains("past the \(RenderAllowance.maxSteps) lookups a request may take in all"), "\(error)")
        }
        #expect(rendered == RenderAllowance.maxSteps / one.steps, "as many renders as fit in 200,000 steps, of \(one.steps) each")
        #expect(allowance.steps <= RenderAllowance.maxSteps + 1)
    }

    @Test("a long value repeated by a short loop is charged per use; values in an HTML part are charged escaped")
    func valuesCharged() throws {
        let big = String(repeating: "y", count: 60_000)
        let template = try Self.compiled(title: "t", body: "{{#a}}{{big}}{{/a}}")
        #expect(throws: Rejection.self) { try template.render(locale: nil, data: try Self.data(["a": Self.zeros, "big": big])) }
        // 200,000 ampersands are 1,000,000 bytes escaped: past the HTML part's 1 MiB budget twice over, within the text's.
        let amps = String(repeating: "&", count: 50_000)
        let twice = try Self.compiled(title: "t", body: "{{v}}{{v}}", html: "{{v}}{{v}}{{v}}{{v}}{{v}}")
        do {
            _ = try twice.render(locale: nil, data: try Self.data(["v": amps]))
            Issue.record("the escaped HTML part fit")
        } catch {
            #expect("\(error)".contains("email html") && "\(error)".contains("'template.data.v'"))
        }
    }

    @Test("real templates render as before: loops, nested objects, transforms, the list's position, inverted sections")
    func ordinaryTemplates() throws {
        let template = try Self.compiled(
            title: "Order {{order.id}} ({{count(order.items)}} items)",
            body:
                "{{#order}}{{#items}}{{name}} x{{qty}}{{^last()}}, {{/last()}}{{/items}}{{/order}}; first {{#first(order.items)}}{{name}}{{/first(order.items)}}; {{#reversed(order.items)}}{{name}}{{/reversed(order.items)}}{{^order.none}}, none{{/order.none}}",
            html:
                "<ul>{{#order.items}}<li>{{name}}</li>{{/order.items}}</ul>{{#sorted(order.tags)}}{{key}}={{value}};{{/sorted(order.tags)}}"
        )
        let items: [Any] = [["name": "tea <b>", "qty": 2], ["name": "cup", "qty": 1]]
        let rendered = try template.render(
            locale: nil, data: try Self.data(["order": ["id": "o-1", "items": items, "tags": ["b": 2, "a": "x"], "none": [Any]()]]))
        #expect(rendered.title == "Order o-1 (2 items)")
        #expect(rendered.body == "tea <b> x2, cup x1; first tea <b>; cuptea <b>, none")
        #expect(rendered.email.html == "<ul><li>tea &lt;b&gt;</li><li>cup</li></ul>a=x;b=2;")
    }

    @Test("a list of a thousand renders in a loop whose body is small; lists in lists cost the longest body")
    func longListsFit() throws {
        let rows = (0..<1_000).map { ["n": $0] }
        let template = try Self.compiled(title: "t", body: "{{#rows}}{{n}},{{/rows}}")
        let body = try template.render(locale: nil, data: try Self.data(["rows": rows])).body
        #expect(body.split(separator: ",").count == 1_000)
        let grid = try Self.compiled(title: "t", body: "{{#grid}}{{#.}}{{.}}{{/.}};{{/grid}}")
        let rendered = try grid.render(locale: nil, data: try Self.data(["grid": [[1, 2], [3]]])).body
        #expect(rendered == "12;3;")
    }

    @Test("sections nested deeper than 16 levels are refused when the template is compiled, before the parser recurses")
    func deepSections() throws {
        let deep = String(repeating: "{{#a}}", count: 17) + String(repeating: "{{/a}}", count: 17)
        do {
            _ = try Self.compiled(title: deep)
            Issue.record("compiled 17 levels")
        } catch {
            #expect("\(error)".contains("field 'template.title'") && "\(error)".contains("nest deeper than 16"))
        }
        let thousands = String(repeating: "{{#a}}", count: 5_000)
        #expect(throws: Rejection.self) { try Self.compiled(title: thousands) }
        #expect(throws: Never.self) {
            try Self.compiled(title: String(repeating: "{{#a}}", count: 16) + String(repeating: "{{/a}}", count: 16))
        }
    }

    @Test(
        "the shape reads tags as the parser does (by character, transforms, triple mustaches); what would make the two disagree is refused")
    func shapes() throws {
        let shape = TemplateShape("{{#a}}12345{{/a}}{{{c}}}{{#reversed(x.items)}}1234567{{/reversed(x.items)}}{{! {{#b}} }}")
        #expect(shape.elementCost("a") == 5 && shape.elementCost("items") == 7 && shape.elementCost("b") == 7)
        #expect(shape.elementCost(nil) == 7 && shape.elementCost("unknown") == 7 && shape.refusal == nil && shape.balanced)
        #expect(TemplateShape("{{#a}}{{^b}}{{/b}}{{/a}}").depth == 2)
        // U+0600 and "{" are one character: no tag there, for the parser or the shape (the body runs to the second close).
        let prepended = TemplateShape("{{#a}}\u{0600}{{/a}}xx{{/a}}")
        #expect(prepended.balanced && prepended.elementCost("a") == 10)
        for (text, reason) in [
            ("{{=<% %>=}}<%#a%><%/a%>", "changing delimiters"), ("{{=<%\n%>=}}", "changing delimiters"),
            ("{{% CONTENT_TYPE: HTML}}{{v}}", "pragmas"),
            ("{{" + String(repeating: "a(", count: 5) + "x" + String(repeating: ")", count: 5) + "}}", "transforms"),
            ("{{" + String(repeating: "n", count: 300) + "}}", "longer than 256"),
        ] {
            #expect(TemplateShape(text).refusal?.contains(reason) == true, "\(text)")
            do {
                _ = try Self.compiled(title: "t", body: text)
                Issue.record("compiled \(text)")
            } catch { #expect("\(error)".contains(reason) && "\(error)".contains("template.body"), "\(error)") }
        }
        let started = ContinuousClock.now
        #expect(throws: Rejection.self) {
            try Self.compiled(
                title: "t", body: "{{" + String(repeating: "a(", count: 20_000) + "x" + String(repeating: ")", count: 20_000) + "}}")
        }
        #expect(ContinuousClock.now - started < .seconds(2), "refused before the parser copies its transforms")
    }

    @Test(
        "no way around the charges: a list's or a text's stored properties are not members; {{.}} of a text is charged each time it renders"
    )
    func noUnchargedPaths() throws {
        let reflected = try Self.compiled(
            title: "t", body: "[{{a.items}}{{a.budget}}{{a.name}}{{s.value}}]{{#a.items}}{{#list}}{{#list}}x{{/list}}{{/list}}{{/a.items}}")
        let data = try Self.data(["a": [Self.zeros], "s": "v"])
        #expect(try reflected.render(locale: nil, data: data).body == "[]")
        let repeated = try Self.compiled(title: "t", body: "{{#s}}" + String(repeating: "{{.}}", count: 1_000) + "{{/s}}")
        do {
            _ = try repeated.render(locale: nil, data: try Self.data(["s": String(repeating: "'", count: 10_000)]))
            Issue.record("rendered ten megabytes")
        } catch { #expect("\(error)".contains("field 'template.data.s'"), "\(error)") }
        let transformed = try Self.compiled(title: "{{#n}}{{plusone(.)}} {{uppercased(s)}} {{reversed(s)}}{{/n}}", body: "b")
        #expect(try transformed.render(locale: nil, data: try Self.data(["n": 41, "s": "ab"])).title == "42 AB ba")
    }

    @Test("data limits: a list of 1,001, nesting past 8 levels, more than 64 KiB; each refusal names the field")
    func dataLimits() throws {
        func refusal(_ object: [String: Any]) -> String? {
            do {
                _ = try Self.data(object)
                return nil
            } catch { return "\(error)" }
        }
        #expect(refusal(["a": [Any](repeating: 0, count: 1_001)])?.contains("field 'template.data.a' has more than 1000 elements") == true)
        var deep: Any = 0
        for _ in 0..<10 { deep = [deep] }
        #expect(refusal(["d": deep])?.contains("field 'template.data.d[0][0][0][0][0][0][0][0]' nests deeper") == true)
        #expect(refusal(["s": String(repeating: "z", count: 70_000)])?.contains("field 'template.data' is larger than 65536 bytes") == true)
        #expect(refusal(["a": Self.zeros, "d": [[[1]]]]) == nil)
    }

    @Test("generated templates over generated data: every render ends within its budget, or is refused")
    func generated() async {
        let names = Gen.oneOf(Gen.always("a"), Gen.always("b"), Gen.always("c"))
        let piece = Gen.oneOf(
            names.map { "{{#\($0)}}" }, names.map { "{{/\($0)}}" }, names.map { "{{\($0)}}" }, names.map { "{{^\($0)}}" },
            Gen.always("{{#.}}"), Gen.always("{{/.}}"), Gen.always("text "))
        let leaf = Gen.oneOf(Gen.int(in: 0...9).map { "\($0)" }, Gen.always("word"), Gen.always(""))
        await propertyCheck(count: 200, input: piece.array(of: 1...24), Gen.int(in: 0...1_000), Gen.int(in: 0...30), leaf) {
            pieces, long, short, value in
            let list: [Any] = Array(repeating: [Any](repeating: value, count: short), count: long)
            guard let template = try? Self.compiled(title: "t", body: pieces.joined()),
                let data = try? Self.data(["a": list, "b": [value], "c": value])
            else { return }
            let started = ContinuousClock.now
            if let content = try? template.render(locale: nil, data: data) {
                #expect(content.body.count <= CompiledTemplate.maxRenderedLength)
            }
            #expect(ContinuousClock.now - started < .seconds(2), "\(pieces.joined())")
        }
    }
}
