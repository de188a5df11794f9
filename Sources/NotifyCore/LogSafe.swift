extension String {
    /// This text as it may appear in a log line or a header sentence: control characters and quotes escaped (so a
    /// hostile id cannot forge log lines), at most `limit` characters.
    public func logSafe(limit: Int) -> String {
        var escaped = ""
        for scalar in unicodeScalars.prefix(limit) {
            switch scalar {
            case "\\": escaped += "\\\\"
            case "\"": escaped += "\\\""
            case _
            where scalar.properties.generalCategory == .control
                || scalar.properties.generalCategory == .format
                || scalar.properties.generalCategory == .lineSeparator
                || scalar.properties.generalCategory == .paragraphSeparator:
                escaped += "\\u{\(String(scalar.value, radix: 16))}"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        if unicodeScalars.count > limit { escaped += "…" }
        return escaped
    }

    /// `logSafe(limit: 128)`: enough for any id.
    public var logSafe: String { logSafe(limit: 128) }
}
