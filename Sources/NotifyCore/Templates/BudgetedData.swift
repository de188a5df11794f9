import Mustache

/// A send's `data` as the renderer reads it: nulls left out (empty, and false in a section), objects by name. Built
/// once per render from `TemplateData`, then walked through `BudgetedObject` and `BudgetedList`.
indirect enum RenderValue: Sendable {
    case text(String)
    case number(Int)
    case flag(Bool)
    case list([RenderValue])
    case object([String: RenderValue])

    /// nil for null.
    init?(_ value: JSONValue) {
        switch value {
        case .null: return nil
        case .string(let text): self = .text(text)
        case .int(let number): self = .number(number)
        case .bool(let flag): self = .flag(flag)
        case .array(let items): self = .list(items.compactMap(RenderValue.init))
        case .object(let members):
            self = .object(
                Dictionary(members.compactMap { key, value in RenderValue(value).map { (key, $0) } }, uniquingKeysWith: { a, _ in a }))
        }
    }

    /// What `{{value}}` shows for a list or an object: its JSON (an author who wanted a member would have named it).
    var json: JSONValue {
        switch self {
        case .text(let text): .string(text)
        case .number(let number): .int(number)
        case .flag(let flag): .bool(flag)
        case .list(let items): .array(items.map(\.json))
        case .object(let members): .object(members.keys.sorted().map { ($0, members[$0]!.json) })
        }
    }

    /// `value` as the renderer gets it, a step charged to `budget` first (nil once the budget is exhausted): flags as
    /// themselves (a false one must stay false to a section; it renders as five bytes at most), text and numbers
    /// wrapped so that every rendering of them is charged (`{{.}}` reads the section's value off the stack, with no
    /// lookup), lists and objects wrapped so that what they hand out is charged too. `name` is what
    /// the renderer looked up (nil for an element of a list), which prices a list's elements.
    static func present(_ value: RenderValue, name: String?, field: String, budget: RenderBudget) -> Any? {
        switch value {
        case .text(let text): budget.charge(0, field: field) ? BudgetedScalar(text, field: field, budget: budget) : nil
        case .number(let number): budget.charge(0, field: field) ? BudgetedScalar(number, field: field, budget: budget) : nil
        case .flag(let flag): budget.charge(5, field: field) ? flag : nil
        case .list(let items): budget.charge(0, field: field) ? BudgetedList(items, name: name, field: field, budget: budget) : nil
        case .object(let members): budget.charge(0, field: field) ? BudgetedObject(members, name: name, field: field, budget: budget) : nil
        }
    }
}

/// An object of the data: each member the renderer looks up is charged before it is handed out; a name it lacks is a
/// step too (the renderer climbs the section stack asking each object in turn).
final class BudgetedObject: MustacheParent, MustacheTransformable, CustomStringConvertible {
    let members: [String: RenderValue]
    let name: String?
    let field: String
    let budget: RenderBudget

    init(_ members: [String: RenderValue], name: String?, field: String, budget: RenderBudget) {
        self.members = members
        self.name = name
        self.field = field
        self.budget = budget
    }

    func child(named name: String) -> Any? {
        guard let value = members[name] else {
            _ = budget.charge(0, field: field)
            return nil
        }
        return RenderValue.present(value, name: name, field: "\(field).\(name)", budget: budget)
    }

    /// The transforms swift-mustache gives a dictionary: `count`, `empty`, and `enumerated` / `sorted` as a list of
    /// `{key, value}` in key order.
    func transform(_ name: String) -> Any? {
        switch name {
        case "count": members.count
        case "empty": members.isEmpty
        case "enumerated", "sorted":
            BudgetedList(
                members.keys.sorted().map { .object(["key": .text($0), "value": members[$0]!]) }, name: self.name, field: field,
                budget: budget)
        default: nil
        }
    }

    var description: String { RenderValue.object(members).json.text(charging: budget, field: field) }
}

/// A list of the data: each element costs its section's body (`TemplateShape.elementCost`) and a step before the
/// renderer gets it, so nested sections over long lists run out of budget instead of multiplying.
final class BudgetedList: MustacheSequence, MustacheParent, MustacheTransformable, CustomStringConvertible {
    let items: [RenderValue]
    let name: String?
    let field: String
    let budget: RenderBudget

    init(_ items: [RenderValue], name: String?, field: String, budget: RenderBudget) {
        self.items = items
        self.name = name
        self.field = field
        self.budget = budget
    }

    struct Iterator: IteratorProtocol {
        let list: BudgetedList
        var index = 0

        mutating func next() -> Any? {
            guard index < list.items.count, list.budget.charge(list.budget.shape.elementCost(list.name), field: list.field) else {
                return nil
            }
            defer { index += 1 }
            return list.element(index)
        }
    }

    func makeIterator() -> Iterator { Iterator(list: self) }

    /// A list has no members: without this the renderer would reflect on this object (`{{#a.items}}`) and walk its
    /// stored elements uncharged.
    func child(named name: String) -> Any? {
        _ = budget.charge(0, field: field)
        return nil
    }

    /// Element `index`, charged for its value (to the list's field: the list is what a refusal names); a list in a
    /// list has no name of its own.
    func element(_ index: Int) -> Any? { RenderValue.present(items[index], name: nil, field: field, budget: budget) }

    /// The transforms swift-mustache gives an array: `first`, `last`, `reversed`, `count`, `empty`.
    func transform(_ transform: String) -> Any? {
        switch transform {
        case "first": items.isEmpty ? nil : element(0)
        case "last": items.isEmpty ? nil : element(items.count - 1)
        case "reversed": BudgetedList(items.reversed(), name: name, field: field, budget: budget)
        case "count": items.count
        case "empty": items.isEmpty
        default: nil
        }
    }

    var description: String { RenderValue.list(items).json.text(charging: budget, field: field) }
}

/// A text or a number of the data: charged each time it is rendered, since one lookup can be rendered many times
/// (`{{#s}}{{.}}{{.}}{{/s}}`). What a transform makes of it (`uppercased`, `plusone`) is charged the same way.
final class BudgetedScalar: MustacheParent, MustacheCustomRenderable, MustacheTransformable, CustomStringConvertible {
    let value: any MustacheTransformable & Sendable
    let field: String
    let budget: RenderBudget

    init(_ value: any MustacheTransformable & Sendable, field: String, budget: RenderBudget) {
        self.value = value
        self.field = field
        self.budget = budget
    }

    var description: String { "\(value)" }

    var renderText: String {
        let text = description
        return budget.charge(budget.cost(of: text), field: field) ? text : ""
    }

    var isNull: Bool { false }

    /// A text or a number has no members: without this the renderer would reflect on this object.
    func child(named name: String) -> Any? {
        _ = budget.charge(0, field: field)
        return nil
    }

    func transform(_ name: String) -> Any? {
        switch value.transform(name) {
        case let text as String: BudgetedScalar(text, field: field, budget: budget)
        case let text as Substring: BudgetedScalar(String(text), field: field, budget: budget)
        case let number as Int: BudgetedScalar(number, field: field, budget: budget)
        case let other: other
        }
    }
}

extension JSONValue {
    /// This value's JSON text when the budget pays for it; empty when it does not (and nothing is written once the
    /// budget is exhausted).
    fileprivate func text(charging budget: RenderBudget, field: String) -> String {
        guard budget.exhausted == nil else { return "" }
        let text = String(decoding: bytes, as: UTF8.self)
        return budget.charge(budget.cost(of: text), field: field) ? text : ""
    }
}
