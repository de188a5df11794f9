import Foundation
import NotifyCore
import Testing

@Suite("Input bounds: nothing from outside can trap")
struct InputBoundsTests {
    static let now = RFC3339.date(from: "2026-12-02T12:00:00Z")!

    static func payment(amount: Any, timestamp: String = "2026-12-02T11:00:00Z") -> [UInt8] {
        let object: [String: Any] = [
            "transactionId": "t", "userId": "u", "orderId": "o", "amount": amount, "status": "confirmed",
            "timestamp": timestamp,
        ]
        return Array(try! JSONSerialization.data(withJSONObject: object))
    }

    @Test("an amount above the documented bound is parked as schema, naming the field; the bound itself formats")
    func amountBound() throws {
        let decoder = EventDecoder()
        for amount: Any in [1e12 + 1, 1e300, 9.3e18, 18_446_744_073_709_551_615 as UInt64] {
            #expect(throws: Rejection(.schema, "field 'amount' must be at most 1000000000000")) {
                try decoder.decode(routingKey: "payment.processed", messageID: nil, body: Self.payment(amount: amount), now: Self.now)
            }
        }
        // An integer too large for 64 bits is still a number (Foundation decodes it as NSDecimalNumber).
        let twentyDigits = Array(
            #"{"transactionId":"t","userId":"u","orderId":"o","amount":92233720368547758070,"status":"confirmed","timestamp":"2026-12-02T11:00:00Z"}"#
                .utf8)
        #expect(throws: Rejection(.schema, "field 'amount' must be at most 1000000000000")) {
            try decoder.decode(routingKey: "payment.processed", messageID: nil, body: twentyDigits, now: Self.now)
        }
        let decoded = try decoder.decode(routingKey: "payment.processed", messageID: nil, body: Self.payment(amount: 1e12), now: Self.now)
        guard case .payment(let payment) = decoded.event else {
            Issue.record("not a payment")
            return
        }
        #expect(MoneyFormat.display(payment.amount, currency: "KWD") == "KWD 1,000,000,000,000.000")
        #expect(MoneyFormat.display(payment.amount, currency: "USD") == "$1,000,000,000,000.00")
    }

    @Test(
        "money is rounded on the decimal digits as written, half up",
        arguments: [
            (1.005, "USD", "$1.01"), (2.675, "USD", "$2.68"), (0.1 + 0.2, "USD", "$0.30"), (1e-5, "USD", "$0.00"),
            (0.005, "USD", "$0.01"), (999.995, "EUR", "€1,000.00"), (0.5, "JPY", "¥1"), (12.3455, "KWD", "KWD 12.346"),
            (999_999_999_999.995, "USD", "$1,000,000,000,000.00"), (Double.leastNonzeroMagnitude, "USD", "$0.00"),
        ])
    func moneyRounding(amount: Double, currency: String, expected: String) {
        #expect(MoneyFormat.display(amount, currency: currency) == expected)
    }

    @Test("values the validator would refuse still format without trapping")
    func moneyNeverTraps() {
        for amount in [Double.infinity, -.infinity, .nan, -1, 1e308, Double.greatestFiniteMagnitude] {
            _ = MoneyFormat.display(amount, currency: "USD")
        }
    }

    @Test("a far-future timestamp is parked as future-timestamp and never reaches the stock rule")
    func farFuture() {
        let decoder = EventDecoder()
        let adjustment = Array(
            #"{"event_id":"e","timestamp":"9999-12-31T23:59:59Z","product_id":"p","adjusted_quantity":-1,"new_quantity":0}"#.utf8)
        #expect(throws: Rejection(.futureTimestamp, "field 'timestamp' is more than 300 s ahead of this service's clock")) {
            try decoder.decode(routingKey: "inventory.adjusted", messageID: nil, body: adjustment, now: Self.now)
        }
        #expect(throws: Rejection.self) {
            try decoder.decode(
                routingKey: "payment.processed", messageID: nil,
                body: Self.payment(amount: 1, timestamp: "2026-12-02T12:05:01Z"), now: Self.now)
        }
        // Within the allowance, and the allowance is configurable.
        #expect(throws: Never.self) {
            try decoder.decode(
                routingKey: "payment.processed", messageID: nil,
                body: Self.payment(amount: 1, timestamp: "2026-12-02T12:04:59Z"), now: Self.now)
        }
        let strict = EventDecoder(window: TimestampWindow(allowedSkewSeconds: 0))
        #expect(throws: Rejection.self) {
            try strict.decode(
                routingKey: "payment.processed", messageID: nil,
                body: Self.payment(amount: 1, timestamp: "2026-12-02T12:00:01Z"), now: Self.now)
        }
    }

    @Test("a timestamp before the Unix epoch is a schema rejection")
    func beforeEpoch() {
        #expect(throws: Rejection(.schema, "field 'timestamp' must not be before 1970-01-01T00:00:00Z")) {
            try EventDecoder().decode(
                routingKey: "payment.processed", messageID: nil,
                body: Self.payment(amount: 1, timestamp: "0001-01-01T00:00:00Z"), now: Self.now)
        }
    }

    @Test("an inventory-list reply whose page arithmetic overflows has no further pages, and does not trap")
    func inventoryListOverflow() throws {
        let body = Array(
            #"{"items":[{"productId":"p","quantity":0}],"page":1000000000000,"pageSize":1000000000000,"total":1000000000000}"#.utf8)
        #expect(try InventoryList.Page(body: body).hasMore == false)
        #expect(throws: Rejection.self) {
            try InventoryList.Page(body: Array(#"{"items":[],"page":0,"pageSize":-5,"total":1}"#.utf8))
        }
    }

    @Test("ids are escaped before they reach a log line")
    func logSafe() {
        #expect("id\n2026 fake line".logSafe == "id\\u{a}2026 fake line")
        #expect("\"quoted\" \\".logSafe == "\\\"quoted\\\" \\\\")
        #expect(String(repeating: "x", count: 200).logSafe.count == 129)
        #expect("routing\u{1b}[31m".logSafe(limit: 100) == "routing\\u{1b}[31m")
    }
}
