import Mustache

/// The compiled templates the rules name, checked at start: each must compile and may only name fields its
/// event provides, so a typo is a start-up error rather than a blank in a customer's notification.
public struct TemplateCatalog: Sendable {
    /// A notification's two texts, and its email's three parts when a rule sends it by email.
    struct Parts: Sendable {
        var title: MustacheTemplate
        var message: MustacheTemplate
        var email: (subject: MustacheTemplate, text: MustacheTemplate, html: MustacheTemplate)?
    }

    /// What one template renders to.
    struct Rendered: Sendable {
        var title: String
        var message: String
        var email: MessageContent?
    }

    private var parts: [String: Parts]

    /// Compiles `<template>.title.mustache` and `<template>.message.mustache` for every rule, and
    /// `<template>.email.subject|text|html.mustache` for every rule with the email channel, each read through `read`
    /// (a file's name to its text, nil when it cannot be read: the daemon reads `templates.directory`, tests read
    /// memory). `location` is where the names are, for errors. Everything renders as plain text except the HTML
    /// part, where every value is HTML-escaped.
    public init(rules: NotificationRules, location: String, read: (String) -> String?) throws(TemplateError) {
        parts = [:]
        for rule in rules.rules {
            let fieldNames = Self.fieldNames(of: rule.event)
            func load(_ part: String, html: Bool = false) throws(TemplateError) -> MustacheTemplate {
                let name = "\(rule.template).\(part).mustache"
                return try Self.compile(read(name), file: "\(location)/\(name)", allowed: fieldNames, html: html)
            }
            var set: Parts
            if let loaded = parts[rule.template] {
                set = loaded
            } else {
                set = Parts(title: try load("title"), message: try load("message"), email: nil)
            }
            if rule.channels.contains(.email), set.email == nil {
                set.email = (try load("email.subject"), try load("email.text"), try load("email.html", html: true))
            }
            parts[rule.template] = set
        }
    }

    func render(_ template: String, fields: [String: String]) -> Rendered? {
        guard let set = parts[template] else { return nil }
        return Rendered(
            title: set.title.render(fields), message: set.message.render(fields),
            email: set.email.map {
                MessageContent(subject: $0.subject.render(fields), text: $0.text.render(fields), html: $0.html.render(fields))
            })
    }

    static func fieldNames(of trigger: String) -> Set<String> {
        trigger == EventKind.paymentProcessed.rawValue ? PaymentProcessed.templateFieldNames : StockNotice.templateFieldNames
    }

    private static func compile(_ text: String?, file path: String, allowed: Set<String>, html: Bool) throws(TemplateError)
        -> MustacheTemplate
    {
        guard let text else { throw TemplateError(file: path, reason: "cannot be read") }
        let template: MustacheTemplate
        do {
            template = try MustacheText.compile(text, html: html).mustache
        } catch {
            throw TemplateError(file: path, reason: "does not compile: \(error)")
        }
        if let unknown = MustacheText.variables(of: template, nested: false).subtracting(allowed).sorted().first {
            throw TemplateError(file: path, reason: "names '\(unknown)', which its event does not provide")
        }
        return template
    }
}
