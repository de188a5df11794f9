import NotifyCore

/// Apple Push Notification service (HTTP/2 provider API) for push tokens of the `apns` platform, authenticated
/// with a provider token signed by the team's key (token-based, not certificate-based). The key (`AuthKey_….p8`)
/// is a secret: from the environment or a credential file, never the JSON configuration, and `description`
/// leaves it out.
public struct APNsSettings: Sendable, Equatable, CustomStringConvertible {
    public static let production = "https://api.push.apple.com"
    public static let sandbox = "https://api.sandbox.push.apple.com"

    /// The 10-character team id the key belongs to (the provider token's `iss`).
    public var teamID: String
    /// The key's 10-character id (the provider token's `kid`).
    public var keyID: String
    /// The ES256 (P-256) private key, PEM (PKCS#8, as Apple hands it out).
    public var privateKeyPEM: String
    /// The app's bundle id (`apns-topic`).
    public var topic: String
    public var endpoint = production
    public var timeout: Duration = .seconds(15)
    public var rateLimit: RateLimit?
    /// How long APNs keeps trying to reach an offline device (`apns-expiration` is now plus this); 0 is one try.
    public var expirationSeconds = 86_400
    /// How long one provider token is used: Apple refuses tokens older than an hour and answers
    /// `TooManyProviderTokenUpdates` to a team that signs new ones more often than every 20 minutes.
    public var tokenLifetime: Duration = .seconds(40 * 60)

    public init(teamID: String, keyID: String, privateKeyPEM: String, topic: String) {
        self.teamID = teamID
        self.keyID = keyID
        self.privateKeyPEM = privateKeyPEM
        self.topic = topic
    }

    public var description: String { "\(endpoint) (team \(teamID), key \(keyID), topic \(topic))" }
}
