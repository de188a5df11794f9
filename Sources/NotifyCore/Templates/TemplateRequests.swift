/// `PublishTemplate {name, template}`: the template as the product's next version, live at once (every daemon within a
/// second); a template that does not compile is 400 naming its part, line and column. Publishing what is already live
/// changes nothing (`unchanged: true`), so a deployment script may publish on every run.
public struct PublishTemplate: CommandRequest, Equatable {
    public static let command = Command.publishTemplate
    public var name: String
    public var template: ProductTemplate

    public init(name: String, template: ProductTemplate) {
        self.name = name
        self.template = template
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            name = try TemplateName.read(fields)
            template = try ProductTemplate(try fields.object("template"))
            _ = try CompiledTemplate(name: name, version: 0, template: template)
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object([("name", .string(name)), ("template", template.body)]) }
}

/// A template command that names a template and, optionally, one of its versions: `{name, version?}`.
public protocol TemplateVersionRequest: CommandRequest {
    var name: String { get }
    var version: Int? { get }
    init(name: String, version: Int?)
}

extension TemplateVersionRequest {
    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            self.init(name: try TemplateName.read(fields), version: try TemplateName.version(fields))
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue {
        .object([("name", .string(name))] + (version.map { [("version", JSONValue.int($0))] } ?? []))
    }
}

/// `RollbackTemplate {name, version?}`: makes `version` live again, or, without one, the version before the live one.
public struct RollbackTemplate: TemplateVersionRequest, Equatable {
    public static let command = Command.rollbackTemplate
    public var name: String
    public var version: Int?

    public init(name: String, version: Int? = nil) {
        self.name = name
        self.version = version
    }
}

/// `GetTemplate {name, version?}`: one version as published (the live one by default).
public struct GetTemplate: TemplateVersionRequest, Equatable {
    public static let command = Command.getTemplate
    public var name: String
    public var version: Int?

    public init(name: String, version: Int? = nil) {
        self.name = name
        self.version = version
    }
}

/// `ListTemplates {after?, limit?}`: the product's templates by name, `limit` (1–200, default 50) after `after`.
public struct ListTemplates: CommandRequest, Equatable {
    public static let command = Command.listTemplates
    public var after: String?
    public var limit: Int

    public init(after: String? = nil, limit: Int = 50) {
        self.after = after
        self.limit = limit
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            after = try fields.optionalString("after", maxLength: 64)
            limit = try fields.integer("limit", default: 50, in: 1...200)
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue {
        .object((after.map { [("after", JSONValue.string($0))] } ?? []) + [("limit", .int(limit))])
    }
}

/// `PreviewTemplate {name, version?} | {template}, data?, locale?`: renders a published version, or a template not
/// yet published, with sample data, as a send would for a recipient of `locale`; what would refuse the send (a part
/// that does not compile, a name `data` lacks, a title too long) is 400 naming it. Nothing is stored or sent.
public struct PreviewTemplate: CommandRequest, Equatable {
    public static let command = Command.previewTemplate

    /// What to render: a stored version, or the template in the request.
    public enum Source: Sendable, Equatable {
        case stored(name: String, version: Int?)
        case inline(ProductTemplate)
    }

    public var source: Source
    public var data: TemplateData
    public var locale: String?

    public init(source: Source, data: TemplateData = TemplateData(), locale: String? = nil) {
        self.source = source
        self.data = data
        self.locale = locale
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            if let template = try fields.optionalObject("template") {
                guard !fields.has("name") else { throw Rejection(.schema, "give field 'name' or 'template', not both") }
                source = .inline(try ProductTemplate(template))
            } else {
                source = .stored(name: try TemplateName.read(fields), version: try TemplateName.version(fields))
            }
            data = try TemplateData(fields, key: "data")
            locale = try fields.optionalString("locale", maxLength: 35).map { (text) throws(Rejection) in try ContactAddress.locale(text) }
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue {
        var members: [(String, JSONValue)]
        switch source {
        case .stored(let name, let version): members = [("name", .string(name))] + (version.map { [("version", JSONValue.int($0))] } ?? [])
        case .inline(let template): members = [("template", template.body)]
        }
        members.append(("data", data.value))
        if let locale { members.append(("locale", .string(locale))) }
        return .object(members)
    }

    /// `{name?, version?, locale, title, body, email: {subject, text, html?}, sms?, push?: {title, body}}`: what each
    /// channel would send.
    public static func reply(_ content: RenderedContent, template: CompiledTemplate) -> JSONValue {
        var members: [(String, JSONValue)] = []
        if !template.name.isEmpty { members += [("name", .string(template.name)), ("version", .int(template.version))] }
        members += [
            ("locale", content.locale.map(JSONValue.string) ?? .null), ("title", .string(content.title)), ("body", .string(content.body)),
            (
                "email",
                .object([
                    ("subject", .string(content.email.subject)), ("text", .string(content.email.text)),
                    ("html", content.email.html.map(JSONValue.string) ?? .null),
                ])
            ),
            ("sms", .string(content.sms ?? content.body)),
            (
                "push",
                .object([("title", .string(content.push?.subject ?? content.title)), ("body", .string(content.push?.text ?? content.body))])
            ),
        ]
        return .object(members)
    }
}

/// The `name` and `version` fields of the template commands.
enum TemplateName {
    static func read(_ fields: JSONFields) throws(Rejection) -> String {
        guard let name = try fields.optionalString("name", maxLength: 64) else { throw Rejection(.schema, "missing required field 'name'") }
        try ProductTemplate.checkName(name)
        return name
    }

    static func version(_ fields: JSONFields) throws(Rejection) -> Int? {
        guard fields.has("version") else { return nil }
        return try fields.integer("version", default: 1, in: 1...Int(Int32.max))
    }
}
