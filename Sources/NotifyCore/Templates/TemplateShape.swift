/// What a template's text says about the work of rendering it, read once before it is compiled: how deep its sections
/// nest (the parser and the renderer recurse once per level, on a thread with a small stack) and how much text each
/// section's body holds, which is what one more element of a list costs before any value is looked up. The renderer
/// itself cannot be asked how much it has written, so `RenderBudget` prices each element by these lengths instead.
struct TemplateShape: Sendable, Equatable {
    /// The deepest nesting of sections a template may have: real templates nest two or three (an order, its items).
    static let maxDepth = 16

    /// By a section's name as the renderer looks it up (the last dotted component, a transform's argument): the longest
    /// body, in bytes, of any section of that name.
    private(set) var bodies: [String: Int] = [:]
    /// The longest section body of all: the price of an element of a list that has no name of its own (a list in a
    /// list, iterated as `{{#.}}`).
    private(set) var longestBody = 0
    /// How deep sections nest (every opener counts, inheritance blocks too, so the check precedes the parser).
    private(set) var depth = 0

    /// Reads the tags of `text` as the Mustache parser does: `{{`…`}}` (or the delimiters a `{{=<% %>=}}` tag sets),
    /// `{{{`…`}}}` while the delimiters are the default ones. A template the parser will refuse (unclosed tags, a
    /// section closed with another name) may get a shape that means nothing; only its depth is used then.
    init(_ text: String) {
        let bytes = Array(text.utf8)
        var open = Self.defaultOpen, close = Self.defaultClose
        var sections: [(name: String, bodyStart: Int)] = []
        var index = 0
        while let start = Self.find(open, in: bytes, from: index) {
            let contentStart = start + open.count
            let triple = open == Self.defaultOpen && bytes.indices.contains(contentStart) && bytes[contentStart] == UInt8(ascii: "{")
            let closing = triple ? Self.tripleClose : close
            guard let end = Self.find(closing, in: bytes, from: contentStart) else { break }
            index = end + closing.count
            let content = Self.trimmed(bytes[contentStart..<end])
            guard let sigil = content.first else { continue }
            switch sigil {
            case UInt8(ascii: "#"), UInt8(ascii: "^"), UInt8(ascii: "$"), UInt8(ascii: "<"):
                sections.append((Self.name(content.dropFirst()), index))
                depth = max(depth, sections.count)
            case UInt8(ascii: "/"):
                let name = Self.name(content.dropFirst())
                guard let opened = sections.lastIndex(where: { $0.name == name }) else { continue }
                let body = start - sections[opened].bodyStart
                bodies[name] = max(bodies[name] ?? 0, body)
                longestBody = max(longestBody, body)
                sections.removeSubrange(opened...)
            case UInt8(ascii: "="):
                let inner = content.dropFirst().dropLast(content.last == UInt8(ascii: "=") ? 1 : 0)
                let parts = inner.split(whereSeparator: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") })
                if parts.count == 2 {
                    open = Array(parts[0])
                    close = Array(parts[1])
                }
            default: continue
            }
        }
    }

    /// What one element of a list looked up as `name` costs: its section's body (the longest of that name), or the
    /// longest body of all when the list has no name or no section of that name was read.
    func elementCost(_ name: String?) -> Int { name.flatMap { bodies[$0] } ?? longestBody }

    private static let defaultOpen = Array("{{".utf8)
    private static let defaultClose = Array("}}".utf8)
    private static let tripleClose = Array("}}}".utf8)

    /// The name a tag's content looks up: `reversed(order.items)` → `items`, `.` → `.`.
    private static func name(_ content: ArraySlice<UInt8>) -> String {
        var name = trimmed(content)
        if let paren = name.lastIndex(of: UInt8(ascii: "(")) {
            name = name[(paren + 1)...]
            if let end = name.firstIndex(of: UInt8(ascii: ")")) { name = name[..<end] }
        }
        let last = name.split(separator: UInt8(ascii: ".")).last.map { String(decoding: $0, as: UTF8.self) }
        return last ?? "."
    }

    private static func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        let space: (UInt8) -> Bool = { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        guard let first = bytes.firstIndex(where: { !space($0) }), let last = bytes.lastIndex(where: { !space($0) }) else { return [] }
        return bytes[first...last]
    }

    private static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, bytes.count >= needle.count, start <= bytes.count - needle.count else { return nil }
        var index = start
        while index <= bytes.count - needle.count {
            if bytes[index] == needle[0], bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }
}
