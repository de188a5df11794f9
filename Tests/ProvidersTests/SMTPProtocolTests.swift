import Foundation
import NIOCore
import NotifyCore
import Testing
@testable import Providers

@Suite("SMTP replies, capabilities and dot-stuffing")
struct SMTPProtocolTests {
    @Test("multi-line replies, split anywhere across reads; enhanced status and queue id")
    func replies() throws {
        var parser = SMTPReplyParser()
        let wire = "250-smtp.example.com\r\n250-PIPELINING\r\n250 SIZE 1000\r\n250 2.0.0 Ok: queued as 4XyZ12\r\n"
        var replies: [SMTPReply] = []
        for chunk in wire.utf8.map({ [$0] }) {
            var buffer = ByteBuffer(bytes: chunk)
            parser.append(&buffer)
            while let reply = try parser.next() { replies.append(reply) }
        }
        #expect(replies.count == 2)
        #expect(replies[0].code == 250 && replies[0].lines == ["smtp.example.com", "PIPELINING", "SIZE 1000"])
        #expect(replies[1].enhancedStatus == "2.0.0" && replies[1].queueID == "4XyZ12")
        #expect(SMTPReply(code: 250, lines: ["OK"]).queueID == "OK", "no id: the reply text stands for it")
        #expect(SMTPReply(code: 550, lines: ["5.1.1 <a@b>: rejected"]).text == "<a@b>: rejected")
    }

    @Test("bounded: a line too long, a reply of too many lines, or garbage is a protocol error")
    func bounded() {
        func parse(_ text: String) throws -> SMTPReply? {
            var parser = SMTPReplyParser()
            var buffer = ByteBuffer(string: text)
            parser.append(&buffer)
            return try parser.next()
        }
        #expect(throws: SMTPReplyParser.ProtocolError.self) { try parse(String(repeating: "x", count: 5000)) }
        #expect(throws: SMTPReplyParser.ProtocolError.self) { try parse(String(repeating: "250-x\r\n", count: 200)) }
        #expect(throws: SMTPReplyParser.ProtocolError.self) { try parse("hello\r\n") }
        #expect(throws: SMTPReplyParser.ProtocolError.self) { try parse("250?x\r\n") }
        #expect((try? parse("250 partial")) == .some(nil), "an incomplete line waits for more")
    }

    @Test("EHLO keywords, including the old AUTH= spelling")
    func capabilities() {
        let caps = SMTPCapabilities(ehlo: SMTPReply(code: 250, lines: [
            "mx.example", "PIPELINING", "SIZE 10240000", "STARTTLS", "AUTH LOGIN PLAIN", "AUTH=CRAM-MD5", "SMTPUTF8", "8BITMIME",
        ]))
        #expect(caps.pipelining && caps.startTLS && caps.smtpUTF8 && caps.eightBitMIME)
        #expect(caps.sizeLimit == 10_240_000)
        #expect(caps.authMechanisms == ["LOGIN", "PLAIN", "CRAM-MD5"])
        let bare = SMTPCapabilities(ehlo: SMTPReply(code: 250, lines: ["mx.example", "SIZE"]))
        #expect(!bare.pipelining && !bare.startTLS && bare.sizeLimit == 0 && bare.authMechanisms.isEmpty)
    }

    @Test("dot-stuffing doubles every leading dot and ends the message with CRLF")
    func dotStuffing() {
        func stuffed(_ text: String) -> String {
            var buffer = ByteBuffer()
            SMTPSessionHandler.dotStuff(Array(text.utf8), into: &buffer)
            return buffer.readString(length: buffer.readableBytes) ?? ""
        }
        #expect(stuffed(".a\r\nb\r\n.\r\n..c\r\nd.e") == "..a\r\nb\r\n..\r\n...c\r\nd.e\r\n")
        #expect(stuffed("plain\r\n") == "plain\r\n")
        #expect(stuffed("") == "\r\n")
    }
}

@Suite("Failure classification, retry tiers and lanes")
struct DeliveryPolicyTests {
    @Test("SMTP replies are classified once: 4xx transient, 5xx on the message permanent, 5xx to the session provider-wide")
    func classification() {
        #expect(DeliveryFailure.smtp(code: 451, enhanced: "4.3.0", text: "later", stage: .recipient).failureClass == .transient)
        #expect(DeliveryFailure.smtp(code: 421, enhanced: nil, text: "closing", stage: .greeting).failureClass == .transient)
        #expect(DeliveryFailure.smtp(code: 550, enhanced: "5.1.1", text: "no such user", stage: .recipient).failureClass == .permanent)
        #expect(DeliveryFailure.smtp(code: 554, enhanced: nil, text: "spam", stage: .message).failureClass == .permanent)
        #expect(DeliveryFailure.smtp(code: 535, enhanced: "5.7.8", text: "bad credentials", stage: .auth).failureClass == .provider)
        #expect(DeliveryFailure.smtp(code: 530, enhanced: "5.7.0", text: "auth required", stage: .mailFrom).failureClass == .provider)
        #expect(DeliveryFailure.smtp(code: 552, enhanced: "5.3.4", text: "too big", stage: .mailFrom).failureClass == .permanent)
        #expect(DeliveryFailure.smtp(code: 550, enhanced: nil, text: "x", stage: .recipient).code == "smtp-550")
        #expect(DeliveryFailure.startTLSUnavailable.failureClass == .provider)
        #expect(DeliveryFailure.unreachable("refused").failureClass == .provider)
        #expect(DeliveryFailure.connection("reset").failureClass == .transient)
    }

    @Test("retries follow the lane's tiers, then dead; permanent is dead at once; provider-wide holds without an attempt")
    func retries() {
        let policy = RetryPolicy()
        let transient = DeliveryFailure.connection("reset")
        #expect((1...3).map { policy.next(after: transient, attempt: $0, lane: .high) } == [2, 10, 30].map { .retry(delaySeconds: $0) })
        #expect(policy.next(after: transient, attempt: 4, lane: .high) == .dead)
        #expect(policy.next(after: transient, attempt: 5, lane: .low) == .retry(delaySeconds: 21_600))
        #expect(policy.next(after: transient, attempt: 6, lane: .normal) == .dead)
        #expect(policy.next(after: .tooLarge(limit: 10), attempt: 1, lane: .normal) == .dead)
        #expect(policy.next(after: .startTLSUnavailable, attempt: 9, lane: .normal) == .holdProvider)
        #expect(policy.distinctDelays == [2, 10, 30, 120, 600, 3600, 21_600])
        #expect(policy.distinctDelays.map(RetryPolicy.tierName) == ["2s", "10s", "30s", "2m", "10m", "1h", "6h"])
        #expect(RetryPolicy.tierName(90) == "90s")
    }

    @Test("high strictly first; normal and low 4:1 while both have work; low alone is served at once")
    func lanes() {
        var scheduler = LaneScheduler(normalPerLow: 4)
        let all: Set<NotificationPriority> = [.high, .normal, .low]
        #expect((0..<5).map { _ in scheduler.next { all.contains($0) } } == Array(repeating: .high, count: 5))
        let bulk = (0..<10).compactMap { _ in scheduler.next { $0 != .high } }
        #expect(bulk == [.normal, .normal, .normal, .normal, .low, .normal, .normal, .normal, .normal, .low])
        #expect(scheduler.next { $0 == .low } == .low)
        #expect(scheduler.next { _ in false } == nil)
    }
}
