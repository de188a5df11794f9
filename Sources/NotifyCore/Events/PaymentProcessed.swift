import Foundation

/// PaymentProcessed 1.0.0, validated as the contract (docs/api.md) says. Unknown fields are ignored.
public struct PaymentProcessed: Sendable, Equatable {
    public enum Status: String, Sendable, CaseIterable { case confirmed, pending, failed }
    public enum Method: String, Sendable {
        case creditCard = "CreditCard", debitCard = "DebitCard",
            bankTransfer = "BankTransfer", payPal = "PayPal", crypto = "Crypto"
    }

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
        guard amount <= Self.maxAmount else {
            throw Rejection(.schema, "field 'amount' must be at most 1000000000000")
        }
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
    /// The largest amount accepted, in major units: a trillion, far above any real payment, and small enough that
    /// every amount converts to minor units exactly (below 2^53) and formats without overflow.
    public static let maxAmount: Double = 1_000_000_000_000

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
