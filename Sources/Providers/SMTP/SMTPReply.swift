import NIOCore
import NotifyCore

/// One SMTP reply: a three-digit code and its lines (RFC 5321 §4.2), with the enhanced status (RFC 3463) when
/// the server gives one.
struct SMTPReply: Sendable, Equatable {
    var code: Int
    var lines: [String]

    var isPositive: Bool { (200..<400).contains(code) }

    /// `x.y.z` at the start of the first line, when present.
    var enhancedStatus: String? {
        guard let first = lines.first, let word = first.split(separator: " ", maxSplits: 1).first else { return nil }
        let parts = word.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy(\.isNumber) }), [2, 4, 5].contains(Int(parts[0]) ?? 0)
        else { return nil }
        return String(word)
    }

    /// The text without the enhanced status, lines joined by spaces.
    var text: String {
        var joined = lines.joined(separator: " ")
        if let enhanced = enhancedStatus { joined = String(joined.dropFirst(enhanced.count)).trimmingLeadingSpaces }
        return joined
    }

    /// The server's id for an accepted message: postfix and smtp-sink say `queued as ID`, others `id=ID` or
    /// only `OK`; without a recognisable id the (short) reply text stands for it.
    var queueID: String {
        let text = self.text
        for marker in ["queued as ", "id=", "Queued as "] {
            if let range = text.range(of: marker) {
                let id = text[range.upperBound...].prefix { !$0.isWhitespace && $0 != ")" && $0 != ">" && $0 != "," }
                if !id.isEmpty { return String(id.prefix(128)) }
            }
        }
        return String(text.prefix(128))
    }

    func failure(at stage: DeliveryFailure.SMTPStage) -> DeliveryFailure {
        .smtp(code: code, enhanced: enhancedStatus, text: text, stage: stage)
    }
}

extension String {
    fileprivate var trimmingLeadingSpaces: String { String(drop { $0 == " " }) }
}

/// Reads replies from the bytes a server sends: `250-first`, `250-second`, `250 last`. Bounded: a line longer
/// than `maxLineLength` or a reply of more than `maxLines` lines is a protocol error, so a hostile or broken
/// server cannot make the client buffer without limit.
struct SMTPReplyParser {
    static let maxLineLength = 4096
    static let maxLines = 128

    struct ProtocolError: Error, Sendable { var reason: String }

    private var buffer = ByteBuffer()
    private var lines: [String] = []

    /// Unread bytes: must be none when TLS starts (RFC 3207 §4.2), or a man in the middle could inject replies.
    var hasUnreadBytes: Bool { buffer.readableBytes > 0 }

    mutating func append(_ bytes: inout ByteBuffer) { buffer.writeBuffer(&bytes) }

    /// The next complete reply, nil when more bytes are needed.
    mutating func next() throws(ProtocolError) -> SMTPReply? {
        while true {
            let view = buffer.readableBytesView
            guard let newline = view.firstIndex(of: UInt8(ascii: "\n")) else {
                guard view.count <= Self.maxLineLength else { throw ProtocolError(reason: "a reply line is too long") }
                return nil
            }
            let length = newline - view.startIndex
            guard length <= Self.maxLineLength else { throw ProtocolError(reason: "a reply line is too long") }
            var line = buffer.readSlice(length: length + 1)!
            var bytes = line.readBytes(length: length)!
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            guard bytes.count >= 3, let code = Int(String(decoding: bytes[0..<3], as: UTF8.self)), (200...599).contains(code) else {
                throw ProtocolError(reason: "a reply does not start with a code")
            }
            let separator = bytes.count > 3 ? bytes[3] : UInt8(ascii: " ")
            guard separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") else {
                throw ProtocolError(reason: "a reply line has no separator after its code")
            }
            lines.append(String(decoding: bytes.dropFirst(4), as: UTF8.self))
            guard lines.count <= Self.maxLines else { throw ProtocolError(reason: "a reply has too many lines") }
            if separator == UInt8(ascii: " ") {
                defer { lines.removeAll(keepingCapacity: true) }
                return SMTPReply(code: code, lines: lines)
            }
        }
    }
}
