import NIOCore
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
        let caps = SMTPCapabilities(
            ehlo: SMTPReply(
                code: 250,
                lines: [
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
