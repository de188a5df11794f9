import Foundation
import NotifyCore
import NotifyStore
import Postgres

/// Products' templates: published and rolled back by the product's key, read and previewed by its organisations' too.
/// Every change is in the audit trail (`template.published`, `template.rolled-back`, entity `template:<name>`).
extension CommandHandlers {
    /// The next version of a template, live at once (this daemon's cache forgets the old one; the others' see it within
    /// a second). 201 with the version; 200 with `unchanged: true` when the live version already says exactly this.
    static func publishTemplate(_ request: PublishTemplate, _ call: CommandCall, templates: TemplateCache, on db: PGConnection) throws
        -> Answer
    {
        let product = try templateOwner(call)
        let definition = String(decoding: request.template.body.bytes, as: UTF8.self)
        let published = try TemplateStore.publish(
            product: product, name: request.name, definition: definition, hash: APIKey.hash(definition), actor: call.principal.actor,
            audit: { version, previous in
                AuditEntry(
                    actor: call.principal.actor, tenant: call.principal.tenant, entity: "template:\(request.name)",
                    action: "template.published", requestID: call.requestID,
                    detail: "version \(version)" + (previous.map { ", replacing version \($0)" } ?? ", the first"))
            }, on: db)
        templates.forget(product: product, name: request.name)
        switch published {
        case .created(let version, let previous):
            return Answer(
                body: .object([
                    ("name", .string(request.name)), ("version", .int(version)), ("previousVersion", previous.map(JSONValue.int) ?? .null),
                    ("unchanged", .bool(false)),
                ]), status: 201)
        case .unchanged(let version):
            return Answer(body: .object([("name", .string(request.name)), ("version", .int(version)), ("unchanged", .bool(true))]))
        case .tooManyTemplates:
            throw CommandFailure(
                status: 409, code: "too-many-templates",
                message: "this product has \(ProductTemplate.maxNamesPerProduct) templates; publish a new version of one of them")
        case .tooManyBytes:
            throw CommandFailure(
                status: 409, code: "too-many-templates",
                message: "this product's templates would pass \(ProductTemplate.maxBytesPerProduct) bytes in all versions kept")
        }
    }

    /// Makes an earlier version live again: the one named, or the one below the live version.
    static func rollbackTemplate(_ request: RollbackTemplate, _ call: CommandCall, templates: TemplateCache, on db: PGConnection) throws
        -> Answer
    {
        let product = try templateOwner(call)
        let outcome = try TemplateStore.rollback(
            product: product, name: request.name, to: request.version,
            audit: { from, to in
                AuditEntry(
                    actor: call.principal.actor, tenant: call.principal.tenant, entity: "template:\(request.name)",
                    action: "template.rolled-back", requestID: call.requestID, detail: "version \(to) live again, replacing version \(from)"
                )
            }, on: db)
        templates.forget(product: product, name: request.name)
        switch outcome {
        case .done(let from, let to):
            return Answer(body: .object([("name", .string(request.name)), ("version", .int(to)), ("previousVersion", .int(from))]))
        case .unknownTemplate: throw CommandFailure.notFound("this product has no template with this name")
        case .unknownVersion: throw CommandFailure.notFound("this template has no such version")
        case .nothingEarlier:
            throw CommandFailure(
                status: 409, code: "no-earlier-version", message: "the live version is this template's first; name a version")
        }
    }

    /// One version as published: `{name, version, live, createdAt, createdBy, template}`.
    static func template(_ request: GetTemplate, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        let product = try templateReader(call)
        guard let stored = try TemplateStore.version(product: product, name: request.name, version: request.version, on: db) else {
            throw CommandFailure.notFound(
                request.version == nil ? "this product has no template with this name" : "this template has no such version")
        }
        return Answer(
            body: .object([
                ("name", .string(request.name)), ("version", .int(stored.version)), ("live", .bool(stored.live)),
                ("createdAt", .string(stored.createdAt)), ("createdBy", .string(stored.createdBy)),
                ("template", try TemplateCache.compile(stored, name: request.name).source.body),
            ]))
    }

    /// The product's templates by name: `{templates: [{name, liveVersion, latestVersion, updatedAt}], next}` (`next`:
    /// the `after` of the following page, null on the last).
    static func templates(_ request: ListTemplates, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        let product = try templateReader(call)
        let page = try TemplateStore.list(product: product, after: request.after, limit: request.limit + 1, on: db)
        let shown = page.prefix(request.limit)
        return Answer(
            body: .object([
                (
                    "templates",
                    .array(
                        shown.map { summary in
                            .object([
                                ("name", .string(summary.name)), ("liveVersion", .int(summary.liveVersion)),
                                ("latestVersion", .int(summary.latestVersion)), ("updatedAt", .string(summary.updatedAt)),
                            ])
                        })
                ),
                ("next", page.count > request.limit ? shown.last.map { .string($0.name) } ?? .null : .null),
            ]))
    }

    /// A template rendered with sample data, as a send would render it; nothing is stored or sent.
    static func preview(_ request: PreviewTemplate, _ call: CommandCall, templates: TemplateCache, on db: PGConnection) throws -> Answer {
        let compiled: CompiledTemplate
        switch request.source {
        case .inline(let template):
            do { compiled = try CompiledTemplate(name: "", version: 0, template: template) } catch { throw error.asBadRequest }
        case .stored(let name, let version):
            let product = try templateReader(call)
            guard let stored = try TemplateStore.version(product: product, name: name, version: version, on: db) else {
                throw CommandFailure.notFound(
                    version == nil ? "this product has no template with this name" : "this template has no such version")
            }
            compiled = try TemplateCache.compile(stored, name: name)
        }
        do {
            return Answer(
                body: PreviewTemplate.reply(
                    try compiled.render(locale: request.locale, data: request.data, path: "data"), template: compiled))
        } catch { throw error.asBadRequest }
    }

    /// The product whose templates the caller changes: its product key's (the admin belongs to no product).
    private static func templateOwner(_ call: CommandCall) throws -> UUID {
        guard let tenant = call.principal.tenant, tenant.organizationID == nil else {
            throw CommandFailure.forbidden("templates are published with their product's key")
        }
        return tenant.productID
    }

    /// The product whose templates the caller reads: its product's, for an organisation's key too.
    private static func templateReader(_ call: CommandCall) throws -> UUID {
        guard let tenant = call.principal.tenant else {
            throw CommandFailure.forbidden("templates are read with their product's or organization's key")
        }
        return tenant.productID
    }
}
