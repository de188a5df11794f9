import Foundation

extension String {
    /// This text as HTML element or attribute content: `&`, `<`, `>`, `"` and `'` escaped.
    public var htmlEscaped: String {
        var escaped = ""
        escaped.reserveCapacity(utf8.count)
        for character in self {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&#39;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}

extension String {
    /// This HTML as plain text, for the text part of an email sent with HTML only: `<script>` and `<style>` dropped,
    /// line and paragraph breaks kept, other tags removed, the common entities decoded, blank runs collapsed. Not a
    /// renderer: enough for a readable alternative part.
    public var plainTextFromHTML: String {
        var text = ""
        var rest = Substring(self)
        while let open = rest.firstIndex(of: "<") {
            text += rest[..<open]
            guard let close = rest[open...].firstIndex(of: ">") else {
                rest = rest[open...]
                break
            }
            let tag = rest[rest.index(after: open)..<close].lowercased()
            let name = tag.drop { $0 == "/" }.prefix { $0.isLetter || $0.isNumber }
            rest = rest[rest.index(after: close)...]
            if !tag.hasPrefix("/"), name == "script" || name == "style" {
                // Skip to the matching end tag (or the end).
                if let end = rest.range(of: "</\(name)", options: .caseInsensitive) {
                    rest = rest[end.upperBound...]
                    rest = rest.firstIndex(of: ">").map { rest[rest.index(after: $0)...] } ?? ""
                } else {
                    rest = ""
                }
            } else if ["br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"].contains(String(name)) {
                text += "\n"
            }
        }
        text += rest
        for (entity, character) in [
            ("&nbsp;", " "), ("&lt;", "<"), ("&gt;", ">"), ("&quot;", "\""), ("&#39;", "'"), ("&apos;", "'"), ("&amp;", "&"),
        ] {
            text = text.replacingOccurrences(of: entity, with: character)
        }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
            .map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).joined(separator: " ") }
        var collapsed: [String] = []
        for line in lines where !(line.isEmpty && (collapsed.last?.isEmpty ?? true)) { collapsed.append(line) }
        return collapsed.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
