import Foundation

/// A recipient's webhook endpoint (`UpsertRecipient {webhook: {url, secrets}}`): where its notifications are
/// posted, signed with every one of its Standard Webhooks secrets (several while a receiver rotates). The secrets
/// are stored but never shown: replies say how many there are. `disabled` is why the service stopped sending
/// to it (the endpoint answered 410); registering the endpoint again enables it.
public struct WebhookEndpoint: Sendable, Equatable {
    public var url: String
    public var secrets: [String]
    public var disabled: String?

    public init(url: String, secrets: [String], disabled: String? = nil) {
        self.url = url
        self.secrets = secrets
        self.disabled = disabled
    }

    public static let maxSecrets = 3

    /// `{url, secrets: ["whsec_…"]}`: an http(s) URL without credentials, at most 2,048 characters; one to three
    /// secrets, each `whsec_` and the base64 of 24 to 64 bytes (the Standard Webhooks format).
    init(_ fields: JSONFields) throws(Rejection) {
        func reject(_ rule: String) -> Rejection { Rejection(.schema, "field '\(fields.path)\(rule)") }
        guard let url = try fields.optionalString("url", maxLength: 2048), let parsed = URL(string: url),
              let scheme = parsed.scheme?.lowercased(), scheme == "https" || scheme == "http", parsed.host?.isEmpty == false,
              parsed.user == nil, parsed.password == nil, parsed.fragment == nil
        else { throw reject("url' must be an http(s) URL without credentials or fragment, at most 2048 characters") }
        guard let secrets = try fields.optionalStrings("secrets", maxCount: Self.maxSecrets), !secrets.isEmpty,
              secrets.allSatisfy(Self.isSecret)
        else { throw reject("secrets' must be 1 to 3 Standard Webhooks secrets: 'whsec_' and the base64 of 24 to 64 bytes") }
        self.url = url
        self.secrets = secrets
    }

    static func isSecret(_ text: String) -> Bool {
        guard text.hasPrefix("whsec_"), let key = Data(base64Encoded: String(text.dropFirst(6))) else { return false }
        return (24...64).contains(key.count)
    }

    /// As the directory stores it (secrets included) and a webhook delivery's claim carries it.
    public var stored: JSONValue {
        .object([("url", .string(url)), ("secrets", .array(secrets.map(JSONValue.string))), ("disabled", disabled.map(JSONValue.string) ?? .null)])
    }

    /// As replies show it: the URL, how many secrets, and whether it is disabled. Never a secret.
    public var body: JSONValue {
        .object([("url", .string(url)), ("secrets", .int(secrets.count)), ("disabled", disabled.map(JSONValue.string) ?? .null)])
    }

    /// The endpoint of a stored (or claimed) JSON text; nil when it is not one.
    public static func parse(stored json: String) -> WebhookEndpoint? {
        guard let object = JSONParser.parse(Array(json.utf8)) as? [String: Any], let url = object["url"] as? String,
              let secrets = object["secrets"] as? [String] else { return nil }
        return WebhookEndpoint(url: url, secrets: secrets, disabled: object["disabled"] as? String)
    }
}

/// Where a webhook may be sent (server-side request forgery): a public address, unless configuration allows
/// loopback or private networks. Pure, on the address's bytes, for the provider to apply to every address a
/// host name resolves to.
public struct EgressPolicy: Sendable, Equatable {
    public var allowLoopback = false
    public var allowPrivateNetworks = false

    public init(allowLoopback: Bool = false, allowPrivateNetworks: Bool = false) {
        self.allowLoopback = allowLoopback
        self.allowPrivateNetworks = allowPrivateNetworks
    }

    /// Why an address is refused, or nil when it may be sent to. 4 bytes for IPv4, 16 for IPv6 (an IPv4-mapped
    /// IPv6 address is judged as its IPv4 address).
    public func refusal(_ address: [UInt8]) -> String? {
        if address.count == 16, address[0..<10].allSatisfy({ $0 == 0 }), address[10] == 0xFF, address[11] == 0xFF {
            return refusal(Array(address[12...]))
        }
        switch address.count {
        case 4:
            let (a, b) = (address[0], address[1])
            if a == 127 { return allowLoopback ? nil : "loopback" }
            if a == 10 || (a == 172 && (16...31).contains(b)) || (a == 192 && b == 168) || (a == 100 && (64...127).contains(b)) {
                return allowPrivateNetworks ? nil : "private network"
            }
            if a == 169 && b == 254 { return "link-local" }
            if a == 0 || a >= 224 { return "not a unicast address" }
            return nil
        case 16:
            if address[0..<15].allSatisfy({ $0 == 0 }) && address[15] == 1 { return allowLoopback ? nil : "loopback" }
            if address.allSatisfy({ $0 == 0 }) || address[0] == 0xFF { return "not a unicast address" }
            if address[0] == 0xFE && address[1] & 0xC0 == 0x80 { return "link-local" }
            if address[0] & 0xFE == 0xFC { return allowPrivateNetworks ? nil : "private network" }
            return nil
        default:
            return "not an IP address"
        }
    }
}
