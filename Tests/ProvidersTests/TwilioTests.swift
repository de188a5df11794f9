import Foundation
import NotifyCore
import PropertyBased
import Testing

@testable import Providers

@Suite("Twilio: request and callback encoding, signatures, replies")
struct TwilioTests {
    static let url = "https://notify.example.com/receipts/twilio?delivery=0b9c4b4e-6a57-4a44-9d8f-1f5b0c1f3a11"
    static let fields = [
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"), ("MessageStatus", "delivered"), ("AccountSid", "AC1"),
        ("To", "+14155550100"), ("From", "+15005550006"), ("ApiVersion", "2010-04-01"), ("Body", "Ümlaut & more=yes"),
    ]
    /// Computed by the `twilio` package's `RequestValidator("12345").compute_signature(url, fields)`.
    static let signature = "49h9AyzezuronMdoPTdRNPyQF5U="

    @Test("X-Twilio-Signature: the twilio package's signature verifies; any change to URL, field or token does not")
    func signature() {
        #expect(TwilioReceipts.isValid(signature: Self.signature, url: Self.url, fields: Self.fields, authToken: "12345"))
        #expect(!TwilioReceipts.isValid(signature: Self.signature, url: Self.url, fields: Self.fields, authToken: "12346"))
        #expect(!TwilioReceipts.isValid(signature: Self.signature, url: Self.url + "0", fields: Self.fields, authToken: "12345"))
        var changed = Self.fields
        changed[1].1 = "undelivered"
        #expect(!TwilioReceipts.isValid(signature: Self.signature, url: Self.url, fields: changed, authToken: "12345"))
        #expect(!TwilioReceipts.isValid(signature: "not base64!", url: Self.url, fields: Self.fields, authToken: "12345"))
    }

    @Test("a signed callback becomes a receipt for the delivery named in its URL; a bad or missing signature is refused")
    func callback() {
        let source = TwilioReceipts(provider: "twilio", callbackURL: "https://notify.example.com/receipts/twilio", authToken: "12345")
        let body = Array(FormEncoding.encode(Self.fields).utf8)
        let query = "delivery=0b9c4b4e-6a57-4a44-9d8f-1f5b0c1f3a11"
        #expect(
            source.receipts(query: query, headers: [("X-Twilio-Signature", Self.signature)], body: body)
                == .receipts([
                    Receipt(
                        deliveryID: "0b9c4b4e-6a57-4a44-9d8f-1f5b0c1f3a11", provider: "twilio",
                        providerMessageID: "SM0123456789abcdef0123456789abcdef", providerStatus: "delivered", status: .delivered)
                ]))
        #expect(source.receipts(query: query, headers: [], body: body) == .badSignature)
        #expect(source.receipts(query: "delivery=other", headers: [("x-twilio-signature", Self.signature)], body: body) == .badSignature)
        #expect(
            source.receipts(query: query, headers: [("X-Twilio-Signature", Self.signature)], body: Array("%zz".utf8))
                == .malformed("the body is not form-encoded UTF-8"))
    }

    @Test("form encoding: what we encode decodes to the same fields, spaces as +, everything else escaped")
    func formEncoding() {
        let fields = [("To", "+1 415"), ("Body", "Ümlaut & more=yes/%"), ("Empty", "")]
        let encoded = FormEncoding.encode(fields)
        #expect(encoded == "To=%2B1+415&Body=%C3%9Cmlaut+%26+more%3Dyes%2F%25&Empty=")
        #expect(FormEncoding.decode(encoded.utf8).map { $0.map { [$0.0, $0.1] } } == fields.map { [$0.0, $0.1] })
        #expect(FormEncoding.decode("a=%4".utf8) == nil)
        #expect(FormEncoding.decode("a=%FF".utf8) == nil, "not UTF-8")
    }

    @Test("replies: 201 with a sid is sent; Twilio's error codes decide the class; Retry-After rides on a 429")
    func replies() {
        func reply(_ status: Int, _ body: String, _ headers: [(String, String)] = []) -> DeliveryResult {
            TwilioProvider.result(HTTPTransport.Response(status: status, headers: headers, body: Array(body.utf8)))
        }
        #expect(reply(201, #"{"sid": "SM1", "status": "queued"}"#) == .sent(providerMessageID: "SM1"))
        guard case .failed(let noSid) = reply(201, "{}") else {
            Issue.record("a reply without a sid is not a send")
            return
        }
        #expect(noSid.failureClass == .transient)
        guard case .failed(let invalid) = reply(400, #"{"code": 21211, "message": "The 'To' number is not valid", "status": 400}"#),
            case .failed(let auth) = reply(401, #"{"code": 20003, "message": "Authenticate", "status": 401}"#),
            case .failed(let throttled) = reply(429, #"{"code": 20429, "message": "Too Many Requests"}"#, [("retry-after", "7")]),
            case .failed(let server) = reply(503, "<html>busy</html>")
        else {
            Issue.record("errors are failures")
            return
        }
        #expect(invalid.code == "twilio-21211" && invalid.failureClass == .permanent)
        #expect(auth.code == "twilio-20003" && auth.failureClass == .provider)
        #expect(throttled.failureClass == .throttled && throttled.retryAfter == 7)
        #expect(server.code == "http-503" && server.failureClass == .transient)
    }

    @Test("hostile callbacks: any bytes as body and query are refused or read, never a crash, never a receipt unsigned")
    func hostileCallbacks() async {
        let source = TwilioReceipts(provider: "twilio", callbackURL: "https://notify.example.com/receipts/twilio", authToken: "12345")
        await propertyCheck(count: 2000, input: Gen.int(in: 0...255).array(of: 0...300), Gen.int(in: 32...126).array(of: 0...60)) {
            bytes, queryBytes in
            let body = bytes.map { UInt8($0) }
            let query = queryBytes.map { UInt8($0) }
            let check = source.receipts(
                query: String(decoding: query, as: UTF8.self), headers: [("X-Twilio-Signature", Self.signature)], body: body)
            if case .receipts = check { Issue.record("a receipt without a valid signature") }
            if let fields = FormEncoding.decode(body) {
                #expect(
                    FormEncoding.decode(FormEncoding.encode(fields).utf8).map { $0.map { [$0.0, $0.1] } } == fields.map { [$0.0, $0.1] })
            }
        }
    }
}
