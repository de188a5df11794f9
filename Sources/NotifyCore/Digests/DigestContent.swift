/// One notification in a digest, as its inbox row says it.
public struct DigestEntry: Sendable, Equatable {
    public var title: String
    public var body: String

    public init(title: String, body: String) {
        self.title = title
        self.body = body
    }
}

extension MessageContent {
    /// An SMS longer than ten segments is refused by providers (Twilio's limit is 1,600 characters).
    static let maxDigestSMS = 1_600
    /// A push body longer than this is cut by the devices anyway (and APNs' payload is 4 KiB).
    static let maxDigestPush = 1_000

    /// What a digest of `entries` (oldest first) says on `channel`. One entry is sent as itself. More are a list:
    /// an email with every title and body (plain text, and HTML with each escaped); an SMS or a push with the titles,
    /// cut to what the channel carries, saying how many did not fit.
    public static func digest(of entries: [DigestEntry], on channel: NotificationChannel) -> MessageContent {
        guard let first = entries.first else { return MessageContent(subject: "", text: "", html: nil) }
        guard entries.count > 1 else { return MessageContent(subject: first.title, text: first.body, html: nil) }
        let count = entries.count
        switch channel {
        case .email:
            let text = entries.map { entry in
                "* \(entry.title)\n" + entry.body.split(separator: "\n", omittingEmptySubsequences: false).map { "  \($0)" }.joined(separator: "\n")
            }.joined(separator: "\n\n")
            let items = entries.map { "<li><strong>\($0.title.htmlEscaped)</strong><br>\($0.body.htmlEscaped.replacingOccurrences(of: "\n", with: "<br>"))</li>" }
            return MessageContent(
                subject: "\(first.title) (and \(count - 1) more)", text: "\(count) notifications:\n\n\(text)\n",
                html: "<p>\(count) notifications:</p>\n<ul>\n\(items.joined(separator: "\n"))\n</ul>\n")
        case .sms:
            return MessageContent(subject: "\(count) notifications", text: list(entries.map(\.title), head: "\(count) notifications: ", separator: "; ",
                                                                                 limit: maxDigestSMS), html: nil)
        case .push, .webhook, .inApp:
            return MessageContent(subject: "\(count) notifications", text: list(entries.map(\.title), head: "", separator: "\n",
                                                                                 limit: maxDigestPush), html: nil)
        }
    }

    /// `head` and as many of `titles` as fit in `limit` characters with the note of how many did not.
    private static func list(_ titles: [String], head: String, separator: String, limit: Int) -> String {
        var text = head
        for (index, title) in titles.enumerated() {
            let piece = (index == 0 ? "" : separator) + title
            let rest = titles.count - index
            let note = "\(separator)(+\(rest) more)"
            let reserve = index == titles.count - 1 ? 0 : "\(separator)(+\(rest - 1) more)".count
            if text.count + piece.count + reserve > limit {
                return index == 0 ? String((head + title).prefix(limit)) : text + note
            }
            text += piece
        }
        return text
    }
}
