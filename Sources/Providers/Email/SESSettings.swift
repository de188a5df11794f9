import NotifyCore

/// Amazon SES (API v2) as an email provider: the region, the endpoint (SES's own, or a test server on loopback)
/// and the access key. The secret key is a secret: from the environment or a credential file, never the JSON
/// configuration, and `description` leaves it out.
public struct SESSettings: Sendable, Equatable, CustomStringConvertible {
    public var region: String
    /// `https://email.<region>.amazonaws.com` unless configured.
    public var endpoint: String
    public var accessKeyID: String
    public var secretAccessKey: String
    public var sessionToken: String?
    /// A configuration set, for SES's event publishing (bounces, deliveries); nil for none.
    public var configurationSet: String?
    public var timeout: Duration = .seconds(15)
    /// Emails per second through SES, shared by every daemon; nil is unlimited.
    public var rateLimit: RateLimit?

    public init(region: String, endpoint: String? = nil, accessKeyID: String, secretAccessKey: String) {
        self.region = region
        self.endpoint = endpoint ?? "https://email.\(region).amazonaws.com"
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    public var description: String { "\(endpoint) (region \(region), key \(accessKeyID))" }
}
