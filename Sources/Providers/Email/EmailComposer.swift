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
    /// `List-Unsubscribe` target for non-transactional mail, with `{userId}`, `{deliveryId}` and `{token}` (the
    /// signed one-click token, `UnsubscribeSigner`) filled in; an `https` target also gets RFC 8058's one-click
    /// `List-Unsubscribe-Post`.
    public var unsubscribeURL: String?
    public var unsubscribeSigner: UnsubscribeSigner?

    public init(
        fromAddress: String, fromName: String? = nil, messageIDDomain: String? = nil, unsubscribeURL: String? = nil,
        unsubscribeSigner: UnsubscribeSigner? = nil
    ) {
        self.unsubscribeSigner = unsubscribeSigner
        self.fromAddress = fromAddress
        self.fromName = fromName
        self.messageIDDomain = messageIDDomain ?? String(fromAddress.split(separator: "@").last ?? "localhost")
        self.unsubscribeURL = unsubscribeURL
    }

    public func messageID(of deliveryID: String) -> String { "<\(deliveryID)@\(messageIDDomain)>" }

    /// The message as bytes, built in one buffer (this runs once per email on the hot path: no `String`
    /// searching or splitting).
    public func compose(_ job: DeliveryJob, to address: String, date: Date) -> [UInt8] {
        let boundary = "=_notifyd_" + job.deliveryID.filter { $0 != "-" }
        var out: [UInt8] = []
        out.reserveCapacity(1024 + job.content.text.utf8.count * 2 + (job.content.html?.utf8.count ?? 0) * 2)
        func header(_ name: String, _ value: String) {
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            out.append(contentsOf: value.utf8)
            out.append(contentsOf: Self.crlfBytes)
        }
        header("From", fromName.map { "\(Self.phrase($0)) <\(fromAddress)>" } ?? fromAddress)
        header("To", address)
        header("Subject", Self.unstructured(job.content.subject))
        header("Date", Self.date(date))
        header("Message-ID", messageID(of: job.deliveryID))
        header("MIME-Version", "1.0")
        header("Auto-Submitted", "auto-generated")
        if !job.transactional, let unsubscribeURL {
            let target = unsubscribeURL.replacingOccurrences(of: "{userId}", with: Self.percentEncoded(job.userID))
                .replacingOccurrences(of: "{deliveryId}", with: job.deliveryID)
                .replacingOccurrences(of: "{token}", with: unsubscribeSigner?.token(for: job) ?? "")
            header("List-Unsubscribe", "<\(target)>")
            if target.hasPrefix("https:") { header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click") }
        }
        let marker = Array("--\(boundary)".utf8)
        if let html = job.content.html {
            header("Content-Type", "multipart/alternative; boundary=\"\(boundary)\"")
            out.append(contentsOf: Self.crlfBytes)
            for (content, type) in [(job.content.text, "text/plain"), (html, "text/html")] {
                out.append(contentsOf: marker)
                out.append(contentsOf: Self.crlfBytes)
                Self.appendPart(content, type: type, boundary: marker, to: &out)
            }
            out.append(contentsOf: marker)
            out.append(contentsOf: "--\r\n".utf8)
        } else {
            Self.appendPart(job.content.text, type: "text/plain", boundary: marker, to: &out)
        }
        return out
    }

    static let crlfBytes: [UInt8] = [13, 10]

    /// A body part's headers and content: 7bit when it is ASCII with lines of at most 998 octets and does not
    /// contain the boundary, otherwise base64 in 76-character lines (safe through any relay, no 8BITMIME needed).
    static func appendPart(_ content: String, type: String, boundary: [UInt8], to out: inout [UInt8]) {
        let (normalised, sevenBit) = crlf(content)
        out.append(contentsOf: "Content-Type: \(type); charset=utf-8\r\n".utf8)
        if sevenBit, !contains(normalised, boundary) {
            out.append(contentsOf: "Content-Transfer-Encoding: 7bit\r\n\r\n".utf8)
            out.append(contentsOf: normalised)
        } else {
            out.append(contentsOf: "Content-Transfer-Encoding: base64\r\n\r\n".utf8)
            base64Lines(normalised, to: &out)
        }
        out.append(contentsOf: crlfBytes)
    }

    /// Every line break (CRLF, LF or a lone CR) as CRLF, and whether the result is 7bit-safe: ASCII without NUL,
    /// no line longer than 998 octets (RFC 5322 §2.1.1).
    static func crlf(_ text: String) -> (bytes: [UInt8], sevenBit: Bool) {
        var result: [UInt8] = []
        result.reserveCapacity(text.utf8.count + 32)
        var sevenBit = true
        var lineLength = 0
        var previousCR = false
        for byte in text.utf8 {
            switch byte {
            case 10:
                if !previousCR { result.append(13) }
                result.append(10)
                lineLength = 0
                previousCR = false
                continue
            case 13:
                if previousCR { result.append(10) }
                result.append(13)
                previousCR = true
                lineLength = 0
                continue
            default:
                if previousCR { result.append(10) }
                previousCR = false
                result.append(byte)
                lineLength += 1
                if byte >= 0x80 || byte == 0 || lineLength > 998 { sevenBit = false }
            }
        }
        if previousCR { result.append(10) }
        return (result, sevenBit)
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var index = 0
        let last = haystack.count - needle.count
        while index <= last {
            if haystack[index] == first, haystack[index..<index + needle.count].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)

    /// Base64 (RFC 2045 §6.8) in lines of 76 characters, each ending in CRLF.
    static func base64Lines(_ bytes: [UInt8], to out: inout [UInt8]) {
        out.reserveCapacity(out.count + bytes.count * 4 / 3 + bytes.count / 38 + 8)
        var column = 0
        var index = 0
        func emit(_ character: UInt8) {
            out.append(character)
            column += 1
            if column == 76 {
                out.append(contentsOf: crlfBytes)
                column = 0
            }
        }
        while index + 3 <= bytes.count {
            let value = UInt32(bytes[index]) << 16 | UInt32(bytes[index + 1]) << 8 | UInt32(bytes[index + 2])
            for shift in [18, 12, 6, 0] { emit(alphabet[Int(value >> UInt32(shift) & 63)]) }
            index += 3
        }
        let rest = bytes.count - index
        if rest > 0 {
            let value = UInt32(bytes[index]) << 16 | (rest == 2 ? UInt32(bytes[index + 1]) << 8 : 0)
            emit(alphabet[Int(value >> 18 & 63)])
            emit(alphabet[Int(value >> 12 & 63)])
            emit(rest == 2 ? alphabet[Int(value >> 6 & 63)] : UInt8(ascii: "="))
            emit(UInt8(ascii: "="))
        }
        if column > 0 { out.append(contentsOf: crlfBytes) }
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
