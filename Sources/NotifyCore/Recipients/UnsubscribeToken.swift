import Crypto
import Foundation

/// What a one-click unsubscribe link carries: whose user, which channel and which message category to opt out of
/// (`*` for FlowMart's own mail, which has no category), signed with the service's secret so nobody can forge one
/// for someone else. It has no expiry: an old newsletter's link must still work. The text is `u1.<payload>.<mac>`,
/// base64url without padding, short enough for a `List-Unsubscribe` header.
public struct UnsubscribeToken: Sendable, Equatable {
    public var tenant: Tenant?
    public var userID: String
    public var channel: NotificationChannel
    public var category: String

    public init(tenant: Tenant?, userID: String, channel: NotificationChannel, category: String) {
        self.tenant = tenant
        self.userID = userID
        self.channel = channel
        self.category = category
    }

    /// The token of a delivery job that may be unsubscribed from; nil for a transactional one.
    public init?(job: DeliveryJob) {
        guard !job.transactional else { return nil }
        self.init(tenant: job.tenant, userID: job.userID, channel: job.channel, category: job.category ?? OptOut.everyCategory)
    }

    /// The opt-out it asks for.
    public var optOut: OptOut { OptOut(channel: channel, category: category) }

    private static let prefix = "u1."

    /// The token text, MAC'd with `secret`.
    func signed(with secret: SymmetricKey) -> String {
        let fields = [
            tenant?.productID.uuidString.lowercased() ?? "", tenant?.organizationID?.uuidString.lowercased() ?? "",
            channel.rawValue, category, userID,
        ]
        let payload = Self.base64URL(Data(fields.joined(separator: "\n").utf8))
        return Self.prefix + payload + "." + Self.mac(payload, secret)
    }

    /// The token `text` names, if one of `secrets` signed it (the current one, or one being rotated out); the MAC is
    /// compared in constant time.
    static func verify(_ text: String, secrets: [SymmetricKey]) -> UnsubscribeToken? {
        guard text.utf8.count <= 1024, text.hasPrefix(prefix) else { return nil }
        let parts = text.dropFirst(prefix.count).split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let mac = decode(String(parts[1])) else { return nil }
        let payload = String(parts[0])
        guard secrets.contains(where: { HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(payload.utf8), using: $0) }),
            let data = decode(payload)
        else { return nil }
        let fields = String(decoding: data, as: UTF8.self).split(separator: "\n", maxSplits: 4, omittingEmptySubsequences: false).map(
            String.init)
        guard fields.count == 5, let channel = NotificationChannel(rawValue: fields[2]), !fields[3].isEmpty, !fields[4].isEmpty else {
            return nil
        }
        let tenant: Tenant?
        if fields[0].isEmpty {
            tenant = nil
        } else {
            guard let product = UUID(uuidString: fields[0]) else { return nil }
            tenant = Tenant(productID: product, organizationID: fields[1].isEmpty ? nil : UUID(uuidString: fields[1]))
        }
        return UnsubscribeToken(tenant: tenant, userID: fields[4], channel: channel, category: fields[3])
    }

    private static func mac(_ payload: String, _ secret: SymmetricKey) -> String {
        base64URL(Data(HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: secret)))
    }

    private static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    private static func decode(_ text: String) -> Data? {
        guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        base64 += String(repeating: "=", count: (4 - base64.count % 4) % 4)
        return Data(base64Encoded: base64)
    }
}

/// Signs the unsubscribe links of outgoing mail and checks those that come back: the current secret signs, it and
/// the one being rotated out verify (`email.unsubscribeSecret`, `email.unsubscribePreviousSecret`).
public struct UnsubscribeSigner: Sendable {
    public static let minimumSecretLength = 32
    private let keys: [SymmetricKey]

    /// `secrets`: the current one first. At least one.
    public init?(secrets: [String]) {
        guard !secrets.isEmpty else { return nil }
        keys = secrets.map { SymmetricKey(data: Data($0.utf8)) }
    }

    /// The link token for a job that may be unsubscribed from; nil for a transactional one.
    public func token(for job: DeliveryJob) -> String? { UnsubscribeToken(job: job).map(sign) }

    /// `token` signed with the current secret, as a link carries it.
    public func sign(_ token: UnsubscribeToken) -> String { token.signed(with: keys[0]) }

    /// What a token that came back asks for; nil when none of the secrets signed it.
    public func verify(_ text: String) -> UnsubscribeToken? { UnsubscribeToken.verify(text, secrets: keys) }
}
