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
    /// Where SES's events come back as receipts; nil for none.
    public var events: Events?

    /// The SNS topic the configuration set publishes its events to, subscribed over HTTPS to the listener's
    /// `/receipts/ses`.
    public struct Events: Sendable, Equatable {
        public var topicARN: String
        /// Every `SigningCertURL` and `SubscribeURL` must start with it: SNS's own host in the region.
        public var certificateURLPrefix: String

        public init(topicARN: String, certificateURLPrefix: String) {
            self.topicARN = topicARN
            self.certificateURLPrefix = certificateURLPrefix
        }
    }

    public init(region: String, endpoint: String? = nil, accessKeyID: String, secretAccessKey: String) {
        self.region = region
        self.endpoint = endpoint ?? "https://email.\(region).amazonaws.com"
        self.accessKeyID = accessKeyID
        self.secretAccessKey = secretAccessKey
    }

    public var description: String { "\(endpoint) (region \(region), key \(accessKeyID))" }
}
