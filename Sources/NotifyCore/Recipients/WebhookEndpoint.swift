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
        .object([
            ("url", .string(url)), ("secrets", .array(secrets.map(JSONValue.string))),
            ("disabled", disabled.map(JSONValue.string) ?? .null),
        ])
    }

    /// As replies show it: the URL, how many secrets, and whether it is disabled. Never a secret.
    public var body: JSONValue {
        .object([("url", .string(url)), ("secrets", .int(secrets.count)), ("disabled", disabled.map(JSONValue.string) ?? .null)])
    }

    /// Whether a stored endpoint is disabled (its `disabled` set, not null): nothing is sent to it.
    public static func isDisabled(stored json: String) -> Bool {
        guard let object = JSONParser.parse(Array(json.utf8)) as? [String: Any], let disabled = object["disabled"] else { return false }
        return !(disabled is NSNull)
    }

    /// The endpoint of a stored (or claimed) JSON text; nil when it is not one.
    public static func parse(stored json: String) -> WebhookEndpoint? {
        guard let object = JSONParser.parse(Array(json.utf8)) as? [String: Any], let url = object["url"] as? String,
            let secrets = object["secrets"] as? [String]
        else { return nil }
        return WebhookEndpoint(url: url, secrets: secrets, disabled: object["disabled"] as? String)
    }
}
