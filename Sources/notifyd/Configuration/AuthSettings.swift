import Configuration
import NotifyCore

/// `auth.*`: who may send RPC commands. Every command needs an `x-api-key` with its scope (`Scope`); the events
/// flow is authorised by the broker's permissions alone.
struct AuthSettings: Sendable, Equatable {
    /// The SHA-256 of the admin credential (`auth.adminKey`, a secret: environment or the credential
    /// `notify-admin-key`); nil when none is configured, and then nobody can onboard. The text is not kept.
    var adminKeyHash: String?
    /// Whether the inbox commands (`GetUserNotifications`, `MarkNotificationRead`, ...) need a key. A deployment
    /// that relies on the broker's permissions for them may turn this off while its callers move to keys.
    var inboxRequiresKey = true
    /// How long a rotated key keeps working next to its successor.
    var rotationGraceSeconds = 86_400
    /// Queues a reply may go to besides direct reply-to (`amq.rabbitmq.reply-to`): by default the broker-named
    /// queues a client declares for itself. A request naming any other `reply_to` is dropped unanswered, so no
    /// caller can make the daemon publish into another service's queue.
    var replyQueuePrefixes = ["amq.gen-"]
    static let minimumAdminKeyLength = 32

    init(config: ConfigReader) throws(ConfigurationError) {
        if let admin = config.string(forKey: "auth.adminKey", isSecret: true), !admin.isEmpty {
            guard admin.count >= Self.minimumAdminKeyLength else {
                throw ConfigurationError(key: "auth.adminKey", reason: "must be at least \(Self.minimumAdminKeyLength) characters")
            }
            adminKeyHash = APIKey.hash(admin)
        }
        inboxRequiresKey = config.bool(forKey: "auth.inboxRequiresKey", default: inboxRequiresKey)
        rotationGraceSeconds = try config.int("auth.rotationGraceSeconds", rotationGraceSeconds, 0...30 * 86_400)
        replyQueuePrefixes = config.stringArray(forKey: "auth.replyQueuePrefixes", default: replyQueuePrefixes).filter { !$0.isEmpty }
    }

    /// Whether a reply may be published to `replyTo`.
    func allowsReply(to replyTo: String) -> Bool {
        replyTo.hasPrefix("amq.rabbitmq.reply-to") || replyQueuePrefixes.contains { replyTo.hasPrefix($0) }
    }
}
