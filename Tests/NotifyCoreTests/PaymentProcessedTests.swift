import Foundation
import NotifyCore
import Testing

@Suite("PaymentProcessed validation")
struct PaymentProcessedTests {
    /// The catalog's own example (PaymentProcessed/1.0.0/index.mdx).
    static let catalogExample = """
        {"transactionId": "123e4567-e89b-12d3-a456-426614174000", "userId": "123e4567-e89b-12d3-a456-426614174000",
         "orderId": "789e1234-b56c-78d9-e012-3456789fghij", "amount": 100.50, "paymentMethod": "CreditCard",
         "status": "confirmed", "confirmationDetails": {"gatewayResponse": "Approved", "transactionId": "abc123"},
         "timestamp": "2024-07-04T14:48:00Z"}
        """

    static func parse(_ json: String) throws(Rejection) -> PaymentProcessed {
        try PaymentProcessed(try JSONInput().object(from: Array(json.utf8)))
    }

    static func with(_ change: (inout [String: Any]) -> Void) -> String {
        var object = try! JSONSerialization.jsonObject(with: Data(catalogExample.utf8)) as! [String: Any]
        change(&object)
        return String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    @Test("the catalog example is valid; currency defaults to USD; the order id need not be a UUID")
    func catalogExampleIsValid() throws {
        let payment = try Self.parse(Self.catalogExample)
        #expect(payment.status == .confirmed)
        #expect(payment.amount == 100.50)
        #expect(payment.currency == "USD")
        #expect(payment.orderID == "789e1234-b56c-78d9-e012-3456789fghij")
        #expect(payment.paymentMethod == .creditCard)
    }

    @Test("unknown fields are ignored")
    func unknownFieldsIgnored() throws {
        _ = try Self.parse(Self.with { $0["somethingNew"] = ["nested": true] })
    }

    @Test(
        "each violation is a schema rejection naming the field",
        arguments: [
            ("userId", "missing required field 'userId'"),
            ("amount", "missing required field 'amount'"),
            ("timestamp", "missing required field 'timestamp'"),
        ])
    func missingFields(field: String, detail: String) {
        #expect(throws: Rejection(.schema, detail)) { try Self.parse(Self.with { $0.removeValue(forKey: field) }) }
    }

    @Test("wrong types and values are refused with the field named")
    func wrongValues() {
        let cases: [(String, (inout [String: Any]) -> Void)] = [
            ("amount", { $0["amount"] = "100.50" }),
            ("amount", { $0["amount"] = true }),
            ("amount", { $0["amount"] = -1 }),
            ("status", { $0["status"] = "refunded" }),
            ("timestamp", { $0["timestamp"] = "yesterday" }),
            ("timestamp", { $0["timestamp"] = "2024-02-30T10:00:00Z" }),
            ("currency", { $0["currency"] = "dollars" }),
            ("paymentMethod", { $0["paymentMethod"] = "Cash" }),
            ("userId", { $0["userId"] = "" }),
            ("userId", { $0["userId"] = String(repeating: "u", count: 129) }),
            ("orderId", { $0["orderId"] = 42 }),
            ("confirmationDetails", { $0["confirmationDetails"] = "approved" }),
        ]
        for (field, change) in cases {
            do {
                _ = try Self.parse(Self.with(change))
                Issue.record("accepted a bad '\(field)'")
            } catch {
                #expect(error.reason == .schema)
                #expect(error.detail.contains("'\(field)'"), "\(error.detail)")
            }
        }
    }

    @Test("RFC 3339 offsets and fractions are understood")
    func timestamps() {
        #expect(RFC3339.date(from: "2024-07-04T14:48:00Z") == Date(timeIntervalSince1970: 1_720_104_480))
        #expect(RFC3339.date(from: "2024-07-04T16:48:00.5+02:00") == Date(timeIntervalSince1970: 1_720_104_480.5))
        #expect(RFC3339.date(from: "2024-07-04 14:48:00") == nil)
        #expect(RFC3339.date(from: "2024-13-04T14:48:00Z") == nil)
    }
}

@Suite("Untrusted input limits")
struct JSONInputTests {
    @Test("too large, invalid UTF-8, too deep, not JSON, not an object")
    func refusals() {
        var input = JSONInput()
        input.maxBytes = 64
        #expect(throws: Rejection.self) { try input.object(from: Array(repeating: 32, count: 65)) }
        do { _ = try input.object(from: Array(repeating: 32, count: 65)) } catch { #expect(error.reason == .tooLarge) }
        do { _ = try JSONInput().object(from: [0x7B, 0xFF, 0xFE, 0x7D]) } catch { #expect(error.reason == .invalidUTF8) }
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        do { _ = try JSONInput().object(from: Array(deep.utf8)) } catch { #expect(error.reason == .tooDeep) }
        do { _ = try JSONInput().object(from: Array("{\"a\":".utf8)) } catch { #expect(error.reason == .invalidJSON) }
        do { _ = try JSONInput().object(from: Array("[1,2]".utf8)) } catch { #expect(error.reason == .schema) }
    }

    @Test("brackets inside strings do not count as nesting")
    func bracketsInStrings() throws {
        let object = try JSONInput().object(from: Array(#"{"text": "[[[[{{{{ \" ]]]"}"#.utf8))
        #expect(object["text"] as? String == #"[[[[{{{{ " ]]]"#)
    }
}

@Suite("Money formatting")
struct MoneyFormatTests {
    @Test(
        "minor units and symbols by currency",
        arguments: [
            (100.5, "USD", "$100.50"), (1234.5, "EUR", "€1,234.50"), (1234.5, "JPY", "¥1,235"),
            (12.3456, "KWD", "KWD 12.346"), (0, "CHF", "CHF 0.00"), (1_000_000, "GBP", "£1,000,000.00"),
        ])
    func display(amount: Double, currency: String, expected: String) {
        #expect(MoneyFormat.display(amount, currency: currency) == expected)
    }
}
