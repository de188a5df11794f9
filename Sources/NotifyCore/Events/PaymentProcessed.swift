import Foundation

/// PaymentProcessed 1.0.0, validated as `CONTRACT.md` says. Unknown fields are ignored.
public struct PaymentProcessed: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable { case confirmed, pending, failed }
    public enum Method: String, Sendable { case creditCard = "CreditCard", debitCard = "DebitCard",
        bankTransfer = "BankTransfer", payPal = "PayPal", crypto = "Crypto" }

    public var transactionID: String
    public var userID: String
    public var orderID: String
    public var amount: Double
    /// ISO 4217 code; `USD` when the event has none.
    public var currency: String
    public var status: Status
    public var timestamp: Date
    public var paymentMethod: Method?
    public var paymentID: String?
    public var subscriptionID: String?

    public init(_ json: [String: Any]) throws(Rejection) {
        let fields = JSONFields(json)
        transactionID = try fields.id("transactionId")
        userID = try fields.id("userId")
        orderID = try fields.id("orderId")
        amount = try fields.number("amount")
        guard amount >= 0 else { throw Rejection(.schema, "field 'amount' must not be negative") }
        status = try fields.choice("status", Status.self)
        timestamp = try fields.timestamp("timestamp")
        currency = try fields.optionalString("currency") ?? "USD"
        guard currency.utf8.count == 3, currency.utf8.allSatisfy({ (65...90).contains($0) }) else {
            throw Rejection(.schema, "field 'currency' must be a three-letter ISO 4217 code")
        }
        paymentMethod = try fields.optionalChoice("paymentMethod", Method.self)
        paymentID = try fields.optionalID("paymentId")
        subscriptionID = try fields.optionalID("subscriptionId")
        if let details = try fields.optionalObject("confirmationDetails") {
            _ = try details.optionalString("gatewayResponse")
            _ = try details.optionalString("transactionId")
        }
    }

    /// Values a template may name: `{{orderId}}`, `{{amountFormatted}}`, ...
    public var templateFields: [String: String] {
        var fields = [
            "transactionId": transactionID, "userId": userID, "orderId": orderID, "status": status.rawValue,
            "currency": currency, "amount": MoneyFormat.plain(amount, currency: currency),
            "amountFormatted": MoneyFormat.display(amount, currency: currency),
        ]
        fields["paymentMethod"] = paymentMethod?.rawValue ?? ""
        return fields
    }

    /// Every name `templateFields` may hold: templates are checked against these at start.
    public static let templateFieldNames: Set<String> = [
        "transactionId", "userId", "orderId", "status", "currency", "amount", "amountFormatted", "paymentMethod",
    ]
}

/// Amounts as people read them: the currency's minor units (ISO 4217) and its symbol where one is common.
public enum MoneyFormat {
    /// `1234.5` in USD → `$1,234.50`; in JPY → `¥1,235`; in CHF → `CHF 1,234.50`.
    public static func display(_ amount: Double, currency: String) -> String {
        let digits = plain(amount, currency: currency, grouping: true)
        if let symbol = symbols[currency] { return symbol + digits }
        return "\(currency) \(digits)"
    }

    /// `1234.50`: fixed minor units, no symbol.
    public static func plain(_ amount: Double, currency: String, grouping: Bool = false) -> String {
        let minorUnits = minorUnits(currency)
        var scale = 1.0
        for _ in 0..<minorUnits { scale *= 10 }
        let scaled = (amount * scale).rounded()
        let whole = Int64(scaled / scale)
        let fraction = Int64(scaled) - whole * Int64(scale)
        var wholeText = String(whole)
        if grouping {
            var grouped = ""
            for (index, character) in wholeText.reversed().enumerated() {
                if index > 0, index % 3 == 0 { grouped.append(",") }
                grouped.append(character)
            }
            wholeText = String(grouped.reversed())
        }
        guard minorUnits > 0 else { return wholeText }
        let fractionText = String(fraction)
        return wholeText + "." + String(repeating: "0", count: minorUnits - fractionText.count) + fractionText
    }

    static func minorUnits(_ currency: String) -> Int {
        if zeroDecimal.contains(currency) { return 0 }
        if threeDecimal.contains(currency) { return 3 }
        return 2
    }

    private static let symbols = ["USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "BRL": "R$"]
    private static let zeroDecimal: Set = ["JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF", "PYG", "RWF"]
    private static let threeDecimal: Set = ["BHD", "KWD", "OMR", "JOD", "TND", "IQD", "LYD"]
}
