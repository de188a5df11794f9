import Foundation
import NotifyCore

/// Builds the RFC 5322 message for one email delivery: MIME `multipart/alternative` with a text and an HTML part
/// (RFC 2046), UTF-8 throughout, headers with non-ASCII text as RFC 2047 encoded words, and our own
/// `Message-ID` made from the delivery id, the same on every attempt, so a receiver (or a test) can tell a
/// duplicate. Pure: the same delivery and date give the same bytes.
public struct EmailComposer: Sendable {
    /// The sender's address (ASCII) and display name.
    public var fromAddress: String
    public var fromName: String?
    /// The right-hand side of every `Message-ID` (the sender's domain unless configured).
    public var messageIDDomain: String
    /// `List-Unsubscribe` target for non-transactional mail, with `{userId}` and `{deliveryId}` filled in; an
    /// `https` target also gets RFC 8058's one-click `List-Unsubscribe-Post`.
    public var unsubscribeURL: String?

    public init(fromAddress: String, fromName: String? = nil, messageIDDomain: String? = nil, unsubscribeURL: String? = nil) {
        self.fromAddress = fromAddress
        self.fromName = fromName
        self.messageIDDomain = messageIDDomain ?? String(fromAddress.split(separator: "@").last ?? "localhost")
        self.unsubscribeURL = unsubscribeURL
    }

    public func messageID(of deliveryID: String) -> String { "<\(deliveryID)@\(messageIDDomain)>" }

    public func compose(_ job: DeliveryJob, to address: String, date: Date) -> [UInt8] {
        let boundary = "=_notifyd_" + job.deliveryID.filter { $0 != "-" }
        var headers: [(String, String)] = [
            ("From", fromName.map { "\(Self.phrase($0)) <\(fromAddress)>" } ?? fromAddress),
            ("To", address),
            ("Subject", Self.unstructured(job.content.subject)),
            ("Date", Self.date(date)),
            ("Message-ID", messageID(of: job.deliveryID)),
            ("MIME-Version", "1.0"),
            ("Auto-Submitted", "auto-generated"),
        ]
        if !job.transactional, let unsubscribeURL {
            let target = unsubscribeURL.replacingOccurrences(of: "{userId}", with: Self.percentEncoded(job.userID))
                .replacingOccurrences(of: "{deliveryId}", with: job.deliveryID)
            headers.append(("List-Unsubscribe", "<\(target)>"))
            if target.hasPrefix("https:") { headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")) }
        }
        var text = ""
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        if let html = job.content.html {
            text += "Content-Type: multipart/alternative; boundary=\"\(boundary)\"\r\n\r\n"
            text += "--\(boundary)\r\n" + Self.part(job.content.text, type: "text/plain", boundary: boundary)
            text += "--\(boundary)\r\n" + Self.part(html, type: "text/html", boundary: boundary)
            text += "--\(boundary)--\r\n"
        } else {
            text += Self.part(job.content.text, type: "text/plain", boundary: boundary)
        }
        return Array(text.utf8)
    }

    /// A body part's headers and content: 7bit when it is ASCII with lines of at most 998 octets and does not
    /// contain the boundary, otherwise base64 in 76-character lines (safe through any relay, no 8BITMIME needed).
    static func part(_ content: String, type: String, boundary: String) -> String {
        let normalised = crlf(content)
        let sevenBit = normalised.utf8.allSatisfy { $0 < 0x80 && $0 != 0 }
            && normalised.split(separator: "\r\n", omittingEmptySubsequences: false).allSatisfy { $0.utf8.count <= 998 }
            && !normalised.contains(boundary)
        if sevenBit {
            return "Content-Type: \(type); charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\(normalised)\r\n"
        }
        let encoded = Data(normalised.utf8).base64EncodedString(options: [.lineLength76Characters, .endLineWithCarriageReturn, .endLineWithLineFeed])
        return "Content-Type: \(type); charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n\(encoded)\r\n"
    }

    /// Every line break (CRLF, LF or a lone CR) as CRLF.
    static func crlf(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .replacingOccurrences(of: "\n", with: "\r\n")
    }

    /// Header text (a subject): line breaks become spaces, so nothing can add a header; ASCII stays as it is
    /// (folded before 78 columns where it has spaces), anything else is one or more `=?UTF-8?B?...?=` words.
    static func unstructured(_ text: String) -> String {
        let flat = String(text.map { $0.isNewline ? " " : $0 })
        if flat.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F }) {
            return fold(flat)
        }
        return encodedWords(flat)
    }

    /// A display name: a quoted string when ASCII, encoded words otherwise.
    static func phrase(_ name: String) -> String {
        let flat = String(name.map { $0.isNewline ? " " : $0 })
        if flat.unicodeScalars.allSatisfy({ $0.isASCII && $0.value >= 0x20 && $0.value != 0x7F }) {
            return "\"" + flat.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        return encodedWords(flat)
    }

    /// RFC 2047 `B` words of at most 75 characters, each holding whole characters, separated by folding white space.
    static func encodedWords(_ text: String) -> String {
        var words: [String] = []
        var chunk: [UInt8] = []
        // 75 − len("=?UTF-8?B?") − len("?=") = 63 base64 characters = 45 octets (a multiple of 3).
        for character in text {
            let bytes = Array(String(character).utf8)
            if chunk.count + bytes.count > 45 {
                words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=")
                chunk.removeAll()
            }
            chunk += bytes
        }
        if !chunk.isEmpty || words.isEmpty { words.append("=?UTF-8?B?" + Data(chunk).base64EncodedString() + "?=") }
        return words.joined(separator: "\r\n ")
    }

    /// Folds ASCII header text at spaces so lines stay under 78 characters where possible (RFC 5322 §2.2.3).
    static func fold(_ text: String) -> String {
        guard text.count > 66 else { return text }
        var lines: [String] = []
        var line = ""
        for word in text.split(separator: " ", omittingEmptySubsequences: false) {
            if !line.isEmpty, line.count + 1 + word.count > 66 {
                lines.append(line)
                line = String(word)
            } else {
                line += (line.isEmpty && lines.isEmpty ? "" : " ") + word
            }
        }
        lines.append(line)
        return lines.joined(separator: "\r\n")
    }

    /// `Wed, 02 Dec 2026 15:16:51 +0000` (RFC 5322 §3.3), in UTC.
    static func date(_ date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) +0000"
    }

    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }
}
