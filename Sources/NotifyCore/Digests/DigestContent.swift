/// One notification in a digest, as its inbox row says it.
public struct DigestEntry: Sendable, Equatable {
    public var title: String
    public var body: String

    public init(title: String, body: String) {
        self.title = title
        self.body = body
    }
}

/// What a digest holds, as the store reads it: its oldest items (at most `MessageContent.maxDigestListed`), and how
/// many it holds in all.
public struct DigestListing: Sendable, Equatable {
    public var entries: [DigestEntry]
    public var total: Int

    public init(entries: [DigestEntry] = [], total: Int = 0) {
        self.entries = entries
        self.total = total
    }
}

extension MessageContent {
    /// An SMS longer than ten segments is refused by providers (Twilio's limit is 1,600 characters).
    static let maxDigestSMS = 1_600
    /// A push body longer than this is cut by the devices anyway (and APNs' payload is 4 KiB).
    static let maxDigestPush = 1_000
    /// Entries a digest lists (the oldest; the rest are counted), and characters of each one's title and body it
    /// shows (the rest is cut, with "…"); the store reads no more than that. A claim composes up to
    /// `delivery.batchSize` digests at once, and a hundred entries of the largest size a template renders (256 KiB
    /// each) would cost it gigabytes: HTML escaping alone multiplies a body of quotes by six. Bounded so, a digest
    /// costs at most about 150 KB to compose.
    public static let maxDigestListed = 20
    public static let maxDigestTitle = 200
    public static let maxDigestEntryBody = 1_000

    /// What a digest of `total` items (at least `entries.count`), of which `entries` are the oldest, says on
    /// `channel`. One item is sent as itself. More are a list: an email with every listed title and body (plain text,
    /// and HTML with each escaped), each cut to `maxDigestTitle` and `maxDigestEntryBody` and the whole within
    /// `CompiledTemplate.maxRenderedLength`, saying how many it does not show; an SMS or a push with the titles, cut to
    /// what the channel carries, saying how many did not fit.
    public static func digest(of entries: [DigestEntry], total: Int? = nil, on channel: NotificationChannel) -> MessageContent {
        guard let first = entries.first else { return MessageContent(subject: "", text: "", html: nil) }
        let count = max(total ?? entries.count, entries.count)
        guard count > 1 else { return MessageContent(subject: first.title, text: first.body, html: nil) }
        switch channel {
        case .email:
            let (text, html) = emailList(entries, total: count)
            return MessageContent(subject: "\(first.title.cut(to: maxDigestTitle)) (and \(count - 1) more)", text: text, html: html)
        case .sms:
            return MessageContent(
                subject: "\(count) notifications",
                text: list(
                    entries.map(\.title), total: count, head: "\(count) notifications: ",
                    separator: "; ", limit: maxDigestSMS), html: nil)
        case .push, .webhook, .inApp:
            return MessageContent(
                subject: "\(count) notifications",
                text: list(
                    entries.map(\.title), total: count, head: "", separator: "\n",
                    limit: maxDigestPush), html: nil)
        }
    }

    /// A digest email's text and HTML: every entry, cut, while both stay within `CompiledTemplate.maxRenderedLength`
    /// bytes; then how many did not fit. Each entry's pieces are bounded before they are escaped or joined.
    private static func emailList(_ entries: [DigestEntry], total: Int) -> (text: String, html: String) {
        let limit = CompiledTemplate.maxRenderedLength
        var text = "\(total) notifications:\n\n"
        var html = "<p>\(total) notifications:</p>\n<ul>\n"
        var shown = 0
        for (index, entry) in entries.enumerated() {
            let title = entry.title.cut(to: maxDigestTitle), body = entry.body.cut(to: maxDigestEntryBody)
            let itemText =
                (index == 0 ? "" : "\n\n") + "* \(title)\n"
                + body.split(separator: "\n", omittingEmptySubsequences: false).map { "  \($0)" }.joined(separator: "\n")
            let itemHTML =
                "<li><strong>\(title.htmlEscaped)</strong><br>\(body.htmlEscaped.replacingOccurrences(of: "\n", with: "<br>"))</li>\n"
            guard text.utf8.count + itemText.utf8.count <= limit, html.utf8.count + itemHTML.utf8.count <= limit else { break }
            text += itemText
            html += itemHTML
            shown += 1
        }
        if shown < total {
            text += "\n\n(and \(total - shown) more)"
            html += "<li>(and \(total - shown) more)</li>\n"
        }
        return (text + "\n", html + "</ul>\n")
    }

    /// `head` and as many of `titles` (the first of `total`) as fit in `limit` characters, with the note of how many
    /// it does not show.
    private static func list(_ titles: [String], total: Int, head: String, separator: String, limit: Int) -> String {
        var text = head
        for (index, title) in titles.enumerated() {
            let piece = (index == 0 ? "" : separator) + title
            let rest = total - index
            let note = "\(separator)(+\(rest) more)"
            let reserve = index == total - 1 ? 0 : "\(separator)(+\(rest - 1) more)".count
            if text.count + piece.count + reserve > limit {
                return index == 0 ? String((head + title).prefix(limit)) : text + note
            }
            text += piece
        }
        return titles.count < total ? text + "\(separator)(+\(total - titles.count) more)" : text
    }
}

extension String {
    /// At most `limit` characters: the first `limit - 1` and "…" when longer.
    func cut(to limit: Int) -> String {
        // Bytes bound characters from above, and counting bytes is free: characters are counted only when needed.
        guard utf8.count > limit, count > limit else { return self }
        return prefix(limit - 1) + "…"
    }
}
