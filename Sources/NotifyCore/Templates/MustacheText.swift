import Mustache

/// How every template of this service is compiled: surrounding whitespace trimmed once (a file's final newline), plain
/// text unless it is an HTML part (where every value is HTML-escaped), and a compile error as a sentence naming the
/// line and column.
enum MustacheText {
    private static let textPragma = "{{% CONTENT_TYPE: TEXT}}"

    static func compile(_ text: String, html: Bool) throws(Failure) -> TemplatePart {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        // Read before the parser: it recurses once per level and copies a tag's transforms once per transform.
        let shape = TemplateShape(trimmed)
        guard shape.depth <= TemplateShape.maxDepth else {
            throw Failure(line: 1, column: 1, reason: "sections nest deeper than \(TemplateShape.maxDepth) levels")
        }
        if let refusal = shape.refusal { throw Failure(line: 1, column: 1, reason: refusal) }
        do {
            let template = try MustacheTemplate(string: (html ? "" : textPragma) + trimmed)
            guard shape.balanced else { throw Failure(line: 1, column: 1, reason: "sections do not balance") }
            return TemplatePart(mustache: template, shape: shape, html: html)
        } catch let failure as Failure {
            throw failure
        } catch let error as MustacheTemplate.ParserError {
            // The pragma is on the first line, before what the author wrote.
            let shift = html || error.context.lineNumber != 1 ? 0 : textPragma.count
            let leading = text.prefix { $0.isWhitespace }
            let line = error.context.lineNumber + leading.filter(\.isNewline).count
            throw Failure(line: line, column: max(1, error.context.columnNumber - shift), reason: Self.describe(error.error))
        } catch {
            throw Failure(line: 1, column: 1, reason: "does not compile")
        }
    }

    /// The names a template looks up, by rendering it once against a recorder. `nested`: the names at the top level
    /// only (those inside `{{#order}}...{{/order}}` are `order`'s members); flat: every name, wherever it is.
    static func variables(of template: MustacheTemplate, nested: Bool) -> Set<String> {
        let recorder = NameRecorder(nested: nested)
        _ = template.render(recorder)
        return recorder.names
    }

    /// Where and why a template does not compile.
    struct Failure: Error, Sendable, CustomStringConvertible {
        var line: Int
        var column: Int
        var reason: String
        var description: String { "line \(line), column \(column): \(reason)" }
    }

    private static func describe(_ error: any Error) -> String {
        switch error as? MustacheTemplate.Error {
        case .sectionCloseNameIncorrect: "a section is closed with another name than it was opened with"
        case .unfinishedName: "a tag is not finished ('}}' missing, or a name that is not one)"
        case .expectedSectionEnd: "a section is opened and never closed"
        case .invalidSetDelimiter: "a set-delimiter tag is malformed"
        case .transformAppliedToInheritanceSection, .illegalTokenInsideInheritSection, .textInsideInheritSection:
            "template inheritance is not available"
        case .invalidConfigVariableSyntax, .unrecognisedConfigVariable: "a pragma tag is malformed or unknown"
        case nil: "does not compile"
        }
    }
}

/// A compiled part of a template, with the shape of its text that prices rendering it.
struct TemplatePart: Sendable {
    let mustache: MustacheTemplate
    let shape: TemplateShape
    /// Whether values are HTML-escaped.
    let html: Bool

    /// The text `data` renders to, or the budget that ran out first (see `RenderBudget`); what it spent is charged to
    /// `allowance` either way. `field` names `data` in a refusal (`template.data`).
    func render(_ data: [String: RenderValue], field: String, maxBytes: Int, allowance: RenderAllowance) -> Result<String, RenderRefusal> {
        let budget = RenderBudget(
            shape: shape, maxBytes: min(maxBytes, allowance.bytesLeft), maxSteps: min(RenderBudget.maxSteps, allowance.stepsLeft),
            escapes: html)
        let text = mustache.render(BudgetedObject(data, name: nil, field: field, budget: budget))
        allowance.spend(steps: budget.steps, bytes: budget.bytes)
        if let (field, limit) = budget.exhausted {
            return .failure(
                RenderRefusal(field: field, limit: limit, request: limit != .bytes(maxBytes) && limit != .steps(RenderBudget.maxSteps)))
        }
        return .success(text)
    }
}

/// Why a render stopped: the data field being used when `limit` was passed; `request` when the limit was what was
/// left of the request's `RenderAllowance` rather than the part's own.
struct RenderRefusal: Error, Sendable {
    var field: String
    var limit: RenderBudget.Limit
    var request = false
}

/// Answers every lookup and remembers the names asked for. Flat, it answers with text, so a name inside a section is
/// looked up again at the top; nested, with a recorder of its own, so only top-level names are recorded.
private final class NameRecorder: MustacheParent, CustomStringConvertible {
    let nested: Bool
    var names: Set<String> = []

    init(nested: Bool) { self.nested = nested }

    func child(named name: String) -> Any? {
        names.insert(name)
        return nested ? NameRecorder(nested: true) : "x"
    }

    var description: String { "x" }
}
