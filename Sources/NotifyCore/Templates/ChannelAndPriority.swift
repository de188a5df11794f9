/// How urgent a notification is; high-priority ones are never queued behind bulk sends.
public enum NotificationPriority: String, Codable, Sendable, CaseIterable { case low, normal, high }

/// Where a notification is delivered.
public enum NotificationChannel: String, Codable, Sendable, CaseIterable {
    case inApp = "in-app", email, sms, push, webhook
}
