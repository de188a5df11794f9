import Foundation

/// What a template's text says about the work of rendering it, read once before it is compiled: how deep its sections
/// nest (the parser and the renderer recurse once per level, on a thread with a small stack) and how much text each
/// section's body holds, which is what one more element of a list costs before any value is looked up. The renderer
/// itself cannot be asked how much it has written, so `RenderBudget` prices each element by these lengths instead.
///
/// The shape must see the tags the parser sees, so it reads the text as the parser does (by `Character`, `{{`…`}}`)
/// and refuses what would make the two disagree or the parser itself costly: changing delimiters, pragmas (which
/// change escaping), tags longer than `maxTagLength` or with more than `maxTransforms` transforms (the parser copies
/// its list once per level); and it notes sections that do not balance.
struct TemplateShape: Sendable, Equatable {
    /// The deepest nesting of sections a template may have: real templates nest two or three (an order, its items).
    static let maxDepth = 16
    /// The longest tag other than a comment, in characters: a name, its dots and its transforms.
    static let maxTagLength = 256
    /// The most transforms one tag may apply (`reversed(sorted(x))` is two).
    static let maxTransforms = 4

    /// By a section's name as the renderer looks it up (the last dotted component, a transform's argument): the longest
    /// body, in UTF-8 bytes, of any section of that name.
    private(set) var bodies: [String: Int] = [:]
    /// The longest section body of all: the price of an element of a list that has no name of its own (a list in a
    /// list, iterated as `{{#.}}`).
    private(set) var longestBody = 0
    /// How deep sections nest (every opener counts, inheritance blocks too, so the check precedes the parser).
    private(set) var depth = 0
    /// Why the text is refused before it is parsed, in words for its author; nil when it may be.
    private(set) var refusal: String?
    /// Whether every section opened is closed, innermost first. The parser says where one is not; a text it accepts
    /// that is not balanced here is refused all the same (the two would disagree on what a body costs).
    private(set) var balanced = true

    init(_ text: String) {
        let characters = Array(text)
        // The UTF-8 offset of each character, for pricing bodies in the bytes the budget counts.
        var offsets: [Int] = []
        offsets.reserveCapacity(characters.count + 1)
        var offset = 0
        for character in characters {
            offsets.append(offset)
            offset += character.utf8.count
        }
        offsets.append(offset)

        var sections: [(name: String, bodyStart: Int)] = []
        var index = 0
        while let start = Self.find(Self.open, in: characters, from: index) {
            let contentStart = start + 2
            let triple = characters.indices.contains(contentStart) && characters[contentStart] == "{"
            guard let end = Self.find(triple ? Self.tripleClose : Self.close, in: characters, from: contentStart) else { break }
            index = end + (triple ? 3 : 2)
            let content = characters[contentStart..<end]
            guard let sigil = content.first else { continue }
            if sigil != "!" {
                if content.count > Self.maxTagLength {
                    refuse("a tag is longer than \(Self.maxTagLength) characters")
                } else if content.filter({ $0 == "(" }).count > Self.maxTransforms {
                    refuse("a tag applies more than \(Self.maxTransforms) transforms")
                }
            }
            switch sigil {
            case "#", "^", "$", "<":
                sections.append((Self.name(content.dropFirst()), offsets[index]))
                depth = max(depth, sections.count)
            case "/":
                let name = Self.name(content.dropFirst())
                guard let opened = sections.last, opened.name == name else {
                    balanced = false
                    continue
                }
                let body = offsets[start] - opened.bodyStart
                bodies[name] = max(bodies[name] ?? 0, body)
                longestBody = max(longestBody, body)
                sections.removeLast()
            case "=": refuse("changing delimiters is not available")
            case "%": refuse("pragmas are not available")
            default: continue
            }
        }
        if !sections.isEmpty { balanced = false }
    }

    /// What one element of a list looked up as `name` costs: its section's body (the longest of that name), or the
    /// longest body of all when the list has no name or no section of that name was read.
    func elementCost(_ name: String?) -> Int { name.flatMap { bodies[$0] } ?? longestBody }

    private mutating func refuse(_ reason: String) {
        if refusal == nil { refusal = reason }
    }

    private static let open: [Character] = ["{", "{"]
    private static let close: [Character] = ["}", "}"]
    private static let tripleClose: [Character] = ["}", "}", "}"]

    /// The name a tag's content looks up: `reversed(order.items)` → `items`, `.` → `.`.
    private static func name(_ content: ArraySlice<Character>) -> String {
        var name = String(content).trimmingCharacters(in: .whitespacesAndNewlines)[...]
        if let paren = name.lastIndex(of: "(") {
            name = name[name.index(after: paren)...]
            if let end = name.firstIndex(of: ")") { name = name[..<end] }
        }
        return name.split(separator: ".").last.map(String.init) ?? "."
    }

    private static func find(_ needle: [Character], in characters: [Character], from start: Int) -> Int? {
        guard characters.count >= needle.count, start <= characters.count - needle.count else { return nil }
        var index = start
        while index <= characters.count - needle.count {
            if characters[index] == needle[0], characters[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
