import Foundation
import NIOCore
import NotifyCore

/// One message for an SMTP session: the envelope and the composed message (CRLF lines, not yet dot-stuffed).
struct SMTPEnvelope: Sendable {
    var sender: String
    var recipient: String
    var message: [UInt8]
    /// The recipient's local part is not ASCII: the server must offer SMTPUTF8 (RFC 6531).
    var needsSMTPUTF8: Bool
    /// A high-lane message: its session sends it before the bulk messages already queued there, so an urgent
    /// email waits for at most the message in progress, not for a campaign's share of the pool.
    var urgent = false
}

/// What became of one message.
enum SMTPOutcome: Sendable, Equatable {
    case accepted(queueID: String)
    /// `reachedServer` is false when nothing of this message was written (the session died before its turn), so
    /// it may go to another connection at once without any risk of a duplicate.
    case failed(DeliveryFailure, reachedServer: Bool)
}

extension SMTPSessionHandler {
    /// The message with every line that starts with `.` doubled (RFC 5321 §4.5.2), ending in CRLF. Copies runs
    /// between such lines whole (most messages have none).
    static func dotStuff(_ message: [UInt8], into buffer: inout ByteBuffer) {
        message.withUnsafeBufferPointer { bytes in
            var start = 0
            if bytes.first == UInt8(ascii: ".") { buffer.writeInteger(UInt8(ascii: ".")) }
            var index = 0
            while index < bytes.count {
                guard let found = memchr(bytes.baseAddress! + index, 0x0A, bytes.count - index) else { break }
                let newline = bytes.baseAddress!.distance(to: found.assumingMemoryBound(to: UInt8.self))
                index = newline + 1
                if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
                    buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[start..<index]))
                    buffer.writeInteger(UInt8(ascii: "."))
                    start = index
                }
            }
            buffer.writeBytes(UnsafeBufferPointer(rebasing: bytes[start...]))
            if bytes.last != 0x0A { buffer.writeString("\r\n") }
        }
    }
}

extension TimeAmount {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self = .nanoseconds(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
    }
}
