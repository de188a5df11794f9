import Foundation
import Mustache

/// The compiled templates the rules name, checked at start: each must compile and may only name fields its
/// event provides, so a typo is a start-up error rather than a blank in a customer's notification.
public struct TemplateCatalog: Sendable {
    /// A notification's two texts.
    struct Pair: Sendable {
        var title: MustacheTemplate
        var message: MustacheTemplate
    }

    private var pairs: [String: Pair]

    /// Loads `<template>.title.mustache` and `<template>.message.mustache` from `directory` for every rule.
    /// Notifications are plain text, so templates render without HTML escaping.
    public init(directory: String, rules: NotificationRules) throws(TemplateError) {
        pairs = [:]
        for rule in rules.rules where pairs[rule.template] == nil {
            let fieldNames = Self.fieldNames(of: rule.event)
            pairs[rule.template] = Pair(
                title: try Self.load(directory: directory, name: "\(rule.template).title.mustache", allowed: fieldNames),
                message: try Self.load(directory: directory, name: "\(rule.template).message.mustache", allowed: fieldNames))
        }
    }

    func render(_ template: String, fields: [String: String]) -> (title: String, message: String)? {
        guard let pair = pairs[template] else { return nil }
        return (pair.title.render(fields), pair.message.render(fields))
    }

    static func fieldNames(of trigger: String) -> Set<String> {
        trigger == EventKind.paymentProcessed.rawValue ? PaymentProcessed.templateFieldNames : StockNotice.templateFieldNames
    }

    private static func load(directory: String, name: String, allowed: Set<String>) throws(TemplateError) -> MustacheTemplate {
        let path = URL(fileURLWithPath: directory).appendingPathComponent(name).path
        guard let text = FileManager.default.contents(atPath: path).flatMap({ String(data: $0, encoding: .utf8) }) else {
            throw TemplateError(file: path, reason: "cannot be read")
        }
        let template: MustacheTemplate
        do {
            // Surrounding whitespace (the file's final newline) is trimmed once here, not after every render.
            template = try MustacheTemplate(
                string: "{{% CONTENT_TYPE: TEXT}}" + text.trimmingCharacters(in: .whitespacesAndNewlines))
        } catch {
            throw TemplateError(file: path, reason: "does not compile: \(error)")
        }
        let recorder = NameRecorder()
        _ = template.render(recorder)
        if let unknown = recorder.names.subtracting(allowed).sorted().first {
            throw TemplateError(file: path, reason: "names '\(unknown)', which its event does not provide")
        }
        return template
    }
}

/// Answers every lookup and remembers the names asked for: rendering once with it lists a template's variables.
private final class NameRecorder: MustacheParent {
    var names: Set<String> = []
    func child(named name: String) -> Any? {
        names.insert(name)
        return "x"
    }
}
