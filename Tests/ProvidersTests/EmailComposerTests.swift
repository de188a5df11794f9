import Foundation
import NotifyCore
import Testing

@testable import Providers

@Suite("The email a delivery becomes")
struct EmailComposerTests {
    static func job(
        subject: String = "Payment received", text: String = "Hello\nthere", html: String? = "<p>Hello</p>",
        transactional: Bool = true
    ) -> DeliveryJob {
        DeliveryJob(
            deliveryID: "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0", notificationID: "n-1", userID: "user 1", channel: .email,
            lane: .normal, transactional: transactional, content: MessageContent(subject: subject, text: text, html: html))
    }

    static func compose(_ job: DeliveryJob, unsubscribe: String? = nil) -> String {
        let composer = EmailComposer(
            fromAddress: "notifications@flowmart.example", fromName: "FlowMart \"Ops\"", unsubscribeURL: unsubscribe)
        return String(
            decoding: composer.compose(job, to: "ana@example.com", date: Date(timeIntervalSince1970: 1_796_225_854)), as: UTF8.self)
    }

    @Test("headers: From with a quoted name, a stable Message-ID from the delivery id, an RFC 5322 date; CRLF everywhere")
    func headers() {
        let message = Self.compose(Self.job())
        #expect(message.hasPrefix("From: \"FlowMart \\\"Ops\\\"\" <notifications@flowmart.example>\r\nTo: ana@example.com\r\n"))
        #expect(message.contains("\r\nMessage-ID: <0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0@flowmart.example>\r\n"))
        #expect(message.contains("\r\nDate: Wed, 02 Dec 2026 ") && message.contains(" +0000\r\n"))
        #expect(message.contains("\r\nMIME-Version: 1.0\r\n"))
        #expect(!message.replacingOccurrences(of: "\r\n", with: "").contains("\n"), "no bare LF")
        #expect(Self.compose(Self.job()) == message, "the same delivery gives the same bytes")
    }

    @Test("multipart/alternative with a 7bit text part and an HTML part; a part with non-ASCII text is base64")
    func parts() throws {
        let message = Self.compose(Self.job(text: "Grüße\nvon FlowMart", html: "<p>ok</p>"))
        let boundary = "=_notifyd_0b1c2d3e4f50617283 94a5b6c7d8e9f0".replacingOccurrences(of: " ", with: "")
        #expect(message.contains("Content-Type: multipart/alternative; boundary=\"\(boundary)\"\r\n\r\n--\(boundary)\r\n"))
        #expect(message.contains("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n"))
        #expect(message.contains("Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n<p>ok</p>\r\n"))
        #expect(message.hasSuffix("--\(boundary)--\r\n"))
        let encoded = try #require(message.components(separatedBy: "base64\r\n\r\n").last?.components(separatedBy: "\r\n").first)
        #expect(String(decoding: Data(base64Encoded: encoded) ?? Data(), as: UTF8.self) == "Grüße\r\nvon FlowMart")
        let plain = Self.compose(Self.job(html: nil))
        #expect(!plain.contains("multipart") && plain.contains("Content-Transfer-Encoding: 7bit\r\n\r\nHello\r\nthere\r\n"))
    }

    @Test("subjects: non-ASCII as RFC 2047 words of whole characters, no header injection through a line break")
    func subjects() {
        let encoded = EmailComposer.unstructured("Zahlung erhalten – Bestellung 1234 für Ana Müller, vielen Dank für Ihren Einkauf")
        #expect(encoded.hasPrefix("=?UTF-8?B?"))
        let words = encoded.components(separatedBy: "\r\n ")
        #expect(words.count > 1 && words.allSatisfy { $0.count <= 75 && $0.hasPrefix("=?UTF-8?B?") && $0.hasSuffix("?=") })
        let decoded = words.map { word in
            String(decoding: Data(base64Encoded: String(word.dropFirst(10).dropLast(2))) ?? Data(), as: UTF8.self)
        }.joined()
        #expect(decoded == "Zahlung erhalten – Bestellung 1234 für Ana Müller, vielen Dank für Ihren Einkauf")
        let injected = Self.compose(Self.job(subject: "Hi\r\nBcc: victim@example.com"))
        #expect(!injected.contains("\r\nBcc:"))
        #expect(injected.contains("Subject: Hi Bcc: victim@example.com\r\n"))
    }

    @Test("List-Unsubscribe only on non-transactional mail, with one-click for https")
    func unsubscribe() throws {
        let url = "https://flowmart.example/unsubscribe?u={userId}&d={deliveryId}"
        #expect(!Self.compose(Self.job(), unsubscribe: url).contains("List-Unsubscribe"))
        let marketing = Self.compose(Self.job(transactional: false), unsubscribe: url)
        #expect(
            marketing.contains(
                "List-Unsubscribe: <https://flowmart.example/unsubscribe?u=user%201&d=0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0>\r\n"))
        #expect(marketing.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"))

        let signer = try #require(UnsubscribeSigner(secrets: [String(repeating: "k", count: 32)]))
        let composer = EmailComposer(
            fromAddress: "n@flowmart.example", unsubscribeURL: "https://n.example/unsubscribe?token={token}",
            unsubscribeSigner: signer)
        var job = Self.job(transactional: false)
        job.category = "NEWSLETTER"
        let signed = String(decoding: composer.compose(job, to: "ana@example.com", date: Date()), as: UTF8.self)
        let token = try #require(signed.components(separatedBy: "token=").dropFirst().first?.components(separatedBy: ">").first)
        #expect(signer.verify(token)?.optOut == OptOut(channel: .email, category: "NEWSLETTER") && signer.verify(token)?.userID == "user 1")
    }

    @Test("line endings are normalised, and a part containing the boundary is base64")
    func normalisation() {
        #expect(EmailComposer.crlf("a\nb\rc\r\nd").bytes == Array("a\r\nb\r\nc\r\nd".utf8))
        #expect(!EmailComposer.crlf(String(repeating: "x", count: 999)).sevenBit)
        let hostile = Self.compose(Self.job(text: "--=_notifyd_0b1c2d3e4f50617283" + "94a5b6c7d8e9f0--"))
        #expect(hostile.components(separatedBy: "Content-Transfer-Encoding: base64").count == 2)
        var out: [UInt8] = []
        EmailComposer.base64Lines(Array(repeating: 0xFF, count: 100), to: &out)
        let lines = String(decoding: out, as: UTF8.self).components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.dropLast().allSatisfy { $0.count == 76 })
        #expect(Data(base64Encoded: lines.joined()) == Data(repeating: 0xFF, count: 100))
    }
}
