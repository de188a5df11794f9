import NotifyCore

/// Firebase Cloud Messaging (HTTP v1) for push tokens of the `fcm` platform, with a Google service account. The
/// account's JSON (with its private key) is a secret: from the environment or a credential file, never the JSON
/// configuration, and `description` leaves the key out.
public struct FCMSettings: Sendable, Equatable, CustomStringConvertible {
    public var projectID: String
    public var clientEmail: String
    public var privateKeyPEM: String
    public var privateKeyID: String?
    /// Where the signed assertion is exchanged for an access token (the account's `token_uri`).
    public var tokenURL: String
    public var endpoint = "https://fcm.googleapis.com"
    public var timeout: Duration = .seconds(15)
    public var rateLimit: RateLimit?

    /// From a service account's JSON key file (`type` `service_account`); `projectID` overrides its `project_id`.
    public init(serviceAccount json: [UInt8], projectID: String? = nil) throws(ProviderSetupError) {
        guard let fields = try? JSONInput().object(from: json), fields["type"] as? String == "service_account",
            let email = fields["client_email"] as? String, let key = fields["private_key"] as? String
        else { throw ProviderSetupError("the FCM service account is not a service account's JSON key") }
        guard let project = projectID ?? fields["project_id"] as? String, !project.isEmpty,
            project.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) })
        else { throw ProviderSetupError("the FCM project id is missing or not a project id") }
        self.projectID = project
        clientEmail = email
        privateKeyPEM = key
        privateKeyID = fields["private_key_id"] as? String
        tokenURL = fields["token_uri"] as? String ?? "https://oauth2.googleapis.com/token"
    }

    public var description: String { "\(endpoint) (project \(projectID), account \(clientEmail))" }
}
