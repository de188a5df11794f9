import Crypto
import Foundation

/// Standard Webhooks signatures (its v1.0.0 spec): `webhook-signature` is a space-separated list of
/// `v1,<base64 HMAC-SHA256(secret, "<id>.<timestamp>.<body>")>`, one per secret, so a receiver that rotates its
/// secret verifies with either; the secret is the base64 after `whsec_`.
enum StandardWebhookSigner {
    static func signature(id: String, timestamp: Int, body: [UInt8], secrets: [String]) -> String {
        let signed = Data("\(id).\(timestamp).".utf8) + Data(body)
        return secrets.compactMap { secret -> String? in
            guard secret.hasPrefix("whsec_"), let key = Data(base64Encoded: String(secret.dropFirst(6))) else { return nil }
            let mac = HMAC<SHA256>.authenticationCode(for: signed, using: SymmetricKey(data: key))
            return "v1," + Data(mac).base64EncodedString()
        }.joined(separator: " ")
    }
}
