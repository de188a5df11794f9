import Configuration
import Foundation

/// Secrets handed over by systemd (`LoadCredential=`): files in `$CREDENTIALS_DIRECTORY`, readable by this service
/// only, that never appear in the environment, argv, the JSON file or a log. They win over every other source.
///
/// | file | configuration key |
/// |---|---|
/// | `notify-amqp-url` | `amqp.url` |
/// | `notify-postgres-url` | `postgres.url` |
/// | `notify-email-password` | `email.password` |
/// | `notify-twilio-auth-token` | `twilio.authToken` |
/// | `notify-ses-secret-access-key` | `ses.secretAccessKey` |
/// | `notify-ses-session-token` | `ses.sessionToken` |
/// | `notify-fcm-service-account` | `fcm.serviceAccount` |
/// | `notify-apns-private-key` | `apns.privateKey` |
/// | `notify-admin-key` | `auth.adminKey` |
/// | `notify-unsubscribe-secret` | `email.unsubscribeSecret` |
/// | `notify-unsubscribe-previous-secret` | `email.unsubscribePreviousSecret` |
enum Credentials {
    static let files: [(file: String, key: String)] = [
        ("notify-amqp-url", "amqp.url"), ("notify-postgres-url", "postgres.url"), ("notify-email-password", "email.password"),
        ("notify-twilio-auth-token", "twilio.authToken"), ("notify-ses-secret-access-key", "ses.secretAccessKey"),
        ("notify-ses-session-token", "ses.sessionToken"), ("notify-fcm-service-account", "fcm.serviceAccount"),
        ("notify-apns-private-key", "apns.privateKey"), ("notify-admin-key", "auth.adminKey"),
        ("notify-unsubscribe-secret", "email.unsubscribeSecret"), ("notify-unsubscribe-previous-secret", "email.unsubscribePreviousSecret"),
    ]

    /// A provider with the credentials present in `directory` (none when it is nil).
    static func provider(directory: String?) -> InMemoryProvider {
        var values: [AbsoluteConfigKey: ConfigValue] = [:]
        if let directory {
            for (file, key) in files {
                guard let data = FileManager.default.contents(atPath: "\(directory)/\(file)") else { continue }
                let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard !text.isEmpty else { continue }
                values[AbsoluteConfigKey(key.split(separator: ".").map(String.init))] = ConfigValue(.string(text), isSecret: true)
            }
        }
        return InMemoryProvider(name: "credentials", values: values)
    }
}
