import Crypto
import Foundation
import NotifyCore

/// Twilio's status callbacks: form posts to the `StatusCallback` URL we gave, signed with `X-Twilio-Signature`
/// = base64(HMAC-SHA1(auth token, URL + every parameter's name and value, sorted by name)) (Twilio's webhook
/// security). The URL is the one we asked for, as Twilio saw it: the configured receipt base, never the Host of
/// the request (a proxy in front may change it).
struct TwilioReceipts: ReceiptSource {
    let provider: String
    let callbackURL: String
    let authToken: String

    var path: String { "/receipts/twilio" }

    func receipts(query: String?, headers: [(String, String)], body: [UInt8]) -> ReceiptCheck {
        guard let fields = FormEncoding.decode(body) else { return .malformed("the body is not form-encoded UTF-8") }
        let url = query.map { "\(callbackURL)?\($0)" } ?? callbackURL
        let signature = headers.first { $0.0.lowercased() == "x-twilio-signature" }?.1
        guard let signature, Self.isValid(signature: signature, url: url, fields: fields, authToken: authToken) else {
            return .badSignature
        }
        let deliveryID = query.flatMap { FormEncoding.decode($0.utf8) }?.first { $0.0 == "delivery" }?.1
        let value = { (name: String) in fields.first { $0.0 == name }?.1 }
        guard let deliveryID, let status = value("MessageStatus") ?? value("SmsStatus") else {
            return .malformed("no delivery id or MessageStatus")
        }
        return .receipts([
            Receipt(
                deliveryID: deliveryID, provider: provider, providerMessageID: value("MessageSid") ?? value("SmsSid"),
                providerStatus: status, status: ReceiptStatus.twilio(status), errorCode: value("ErrorCode").map { "twilio-\($0)" })
        ])
    }

    /// Compares in constant time (`HMAC.isValidAuthenticationCode`).
    static func isValid(signature: String, url: String, fields: [(String, String)], authToken: String) -> Bool {
        guard let expected = Data(base64Encoded: signature) else { return false }
        var signed = url
        for (name, value) in fields.sorted(by: { $0.0.utf8.lexicographicallyPrecedes($1.0.utf8) }) { signed += name + value }
        return HMAC<Insecure.SHA1>.isValidAuthenticationCode(
            expected, authenticating: Data(signed.utf8), using: SymmetricKey(data: Data(authToken.utf8)))
    }
}
