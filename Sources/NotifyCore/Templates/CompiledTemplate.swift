import Mustache

/// What one recipient's notification says, on each channel: its title and body (the inbox, webhooks, and push and SMS
/// unless a part of their own says otherwise), its email, and SMS and push texts when they differ.
public struct RenderedContent: Sendable, Equatable {
    public var title: String
    public var body: String
    public var email: MessageContent
    public var sms: String?
    public var push: MessageContent?
    /// The template's locale tag that was used (nil: its base parts, or inline content).
    public var locale: String?

    public init(title: String, body: String, email: MessageContent, sms: String? = nil, push: MessageContent? = nil, locale: String? = nil)
    {
        self.title = title
        self.body = body
        self.email = email
        self.sms = sms
        self.push = push
        self.locale = locale
    }

    /// The texts a channel other than email sends when they are not the title and body.
    var channelTexts: [NotificationChannel: MessageContent] {
        var texts: [NotificationChannel: MessageContent] = [:]
        if let sms { texts[.sms] = MessageContent(subject: title, text: sms, html: nil) }
        if let push { texts[.push] = push }
        return texts
    }
}

/// One version of a product's template, compiled once and rendered for many recipients (the daemon keeps these in
/// its template cache). Every part is checked when it is compiled: a part that does not compile is refused with its
/// field, line and column, so a broken template is never published.
public struct CompiledTemplate: Sendable {
    /// The longest rendered title (as for inline content) and the longest rendered part.
    public static let maxTitleLength = SendRequest.maxTitleLength
    public static let maxRenderedLength = 256 * 1024
    /// A part's render budget in bytes per character of its length limit: UTF-8 takes at most four bytes a
    /// character, so nothing within the limit is refused by the budget, and nothing past four times it is rendered.
    static let budgetBytesPerCharacter = 4

    struct Variant: Sendable {
        var title: TemplatePart
        var body: TemplatePart
        var emailSubject: TemplatePart?
        var emailText: TemplatePart?
        var emailHTML: TemplatePart?
        var sms: TemplatePart?
        var pushTitle: TemplatePart?
        var pushBody: TemplatePart?
        /// The top-level names its parts look up: a send must give each of them (null for "none").
        var names: Set<String>
    }

    public let name: String
    public let version: Int
    public let source: ProductTemplate
    private let base: Variant
    private let locales: [(tag: String, variant: Variant)]

    /// Compiles every part of `template`; a failure names the part as a field under `path` (`template.`).
    public init(name: String, version: Int, template: ProductTemplate, path: String = "template.") throws(Rejection) {
        self.name = name
        self.version = version
        source = template
        footprint = 12 * template.body.bytes.count
        base = try Self.compile(template.base, path: path)
        var locales: [(String, Variant)] = []
        for (tag, variant) in template.locales {
            locales.append((tag, try Self.compile(variant, path: "\(path)locales.\(tag).")))
        }
        self.locales = locales
    }

    /// The memory it holds compiled, estimated: twelve bytes per byte of its definition (measured: forty compiled
    /// copies of a 340 KB template of every part took 11.6 times its size each in resident memory).
    public let footprint: Int

    /// Every top-level name any variant looks up.
    public var names: Set<String> { locales.reduce(base.names) { $0.union($1.variant.names) } }

    /// The content for a recipient whose language is `locale` (its variant by `ProductTemplate.variant(for:)`).
    /// Refused when `data` lacks a name the variant uses, when rendering a part passes its budget (`RenderBudget`: four
    /// bytes per character of its length limit, and `RenderBudget.maxSteps`) or what is left of the request's
    /// `allowance` (shared by every render of one request), or a rendered part is too long; the message names the
    /// field under `path`, never a value.
    public func render(
        locale: String?, data: TemplateData, path: String = "template.data",
        allowance: RenderAllowance = RenderAllowance()
    ) throws(Rejection) -> RenderedContent {
        let tag = source.variant(for: locale).tag
        let variant = tag.flatMap { tag in locales.first { $0.tag == tag }?.variant } ?? base
        if let missing = variant.names.subtracting(data.names).sorted().first {
            throw Rejection(
                .schema,
                "field '\(path)' lacks '\(missing)', which template '\(name)' (version \(version)\(tag.map { ", locale \($0)" } ?? "")) uses; give null for none"
            )
        }
        let values = data.renderValues
        func render(_ template: TemplatePart, _ part: String, limit: Int = Self.maxRenderedLength) throws(Rejection) -> String {
            let text: String
            switch template.render(values, field: path, maxBytes: Self.budgetBytesPerCharacter * limit, allowance: allowance) {
            case .success(let rendered): text = rendered
            case .failure(let refusal):
                let past =
                    switch (refusal.limit, refusal.request) {
                    case (.bytes(let bytes), false): "\(bytes) bytes"
                    case (.steps(let steps), false): "\(steps) lookups"
                    case (.bytes, true): "the \(RenderAllowance.maxBytes) bytes a request may render in all"
                    case (.steps, true): "the \(RenderAllowance.maxSteps) lookups a request may take in all"
                    }
                throw Rejection(
                    .schema,
                    "field '\(refusal.field)' makes template '\(name)' render its \(part) past \(past); send less data or a shorter list")
            }
            guard text.count <= limit else {
                throw Rejection(.schema, "template '\(name)' renders its \(part) longer than \(limit) characters with this '\(path)'")
            }
            return text
        }
        let title = try render(variant.title, "title", limit: Self.maxTitleLength)
        guard !title.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
            throw Rejection(.schema, "template '\(name)' renders an empty title with this '\(path)'")
        }
        let body = try render(variant.body, "body")
        func optional(_ template: TemplatePart?, _ part: String, limit: Int = Self.maxRenderedLength) throws(Rejection) -> String? {
            guard let template else { return nil }
            return try render(template, part, limit: limit)
        }
        let email = MessageContent(
            subject: try optional(variant.emailSubject, "email subject", limit: Self.maxTitleLength) ?? title,
            text: try optional(variant.emailText, "email text") ?? body, html: try optional(variant.emailHTML, "email html"))
        let pushTitle = try optional(variant.pushTitle, "push title", limit: Self.maxTitleLength)
        let pushBody = try optional(variant.pushBody, "push body")
        let push =
            pushTitle == nil && pushBody == nil ? nil : MessageContent(subject: pushTitle ?? title, text: pushBody ?? body, html: nil)
        return RenderedContent(title: title, body: body, email: email, sms: try optional(variant.sms, "sms body"), push: push, locale: tag)
    }

    private static func compile(_ variant: ProductTemplate.Variant, path: String) throws(Rejection) -> Variant {
        var compiled: [String: TemplatePart] = [:]
        var names: Set<String> = []
        for part in variant.parts {
            do {
                let template = try MustacheText.compile(part.text, html: part.html)
                compiled[part.path] = template
                names.formUnion(MustacheText.variables(of: template.mustache, nested: true))
            } catch {
                throw Rejection(.schema, "field '\(path)\(part.path)' does not compile: \(error)")
            }
        }
        return Variant(
            title: compiled["title"]!, body: compiled["body"]!, emailSubject: compiled["email.subject"], emailText: compiled["email.text"],
            emailHTML: compiled["email.html"], sms: compiled["sms.body"], pushTitle: compiled["push.title"],
            pushBody: compiled["push.body"],
            names: names)
    }
}
