import Foundation

/// One line of `Config/notification-rules.json`: which template, type, priority and channels an event of a kind
/// (and, optionally, a status) produces. An event no rule matches produces no notification.
public struct NotificationRule: Codable, Sendable, Equatable {
    /// Catalog id of the event, e.g. `PaymentProcessed`.
    public var event: String
    /// The event's `status`, when the rule applies to one status only.
    public var status: String?
    /// Template name: files `<template>.title.mustache` and `<template>.message.mustache`.
    public var template: String
    /// Stored as the notification's `type`, e.g. `payment`.
    public var type: String
    public var priority: NotificationPriority
    public var channels: [NotificationChannel]
    /// Receipts, failed payments, one-time codes: mail a user cannot unsubscribe from. Default true; a rule with
    /// `false` (marketing, stock alerts a user asked for) gets a `List-Unsubscribe` header on its email.
    public var transactional: Bool?
    /// Channel fallback, e.g. `{"push": "sms"}`: when a delivery on the key's channel ends without reaching the
    /// recipient (no address for it, such as no push token left, or dead), one on the value's channel is made
    /// for the same notification. The value is SMS, push or webhook (they send the notification's title and
    /// text; an email needs its own template) and not one of the rule's channels.
    public var fallback: [String: NotificationChannel]?
    /// Batch this rule's email, SMS and push with the recipient's others of its `type` (`DigestPolicy`): e.g.
    /// `{"windowSeconds": 600, "maxItems": 20}` for stock alerts; absent to send each at once.
    public var digest: DigestPolicy?

    public init(
        event: String, status: String?, template: String, type: String, priority: NotificationPriority,
        channels: [NotificationChannel], transactional: Bool? = nil, fallback: [String: NotificationChannel]? = nil,
        digest: DigestPolicy? = nil
    ) {
        self.digest = digest
        self.event = event
        self.status = status
        self.template = template
        self.type = type
        self.priority = priority
        self.channels = channels
        self.transactional = transactional
        self.fallback = fallback
    }

    public var isTransactional: Bool { transactional ?? true }

    /// The fallbacks by channel, as the rules file names them (checked when it is read).
    public var fallbacks: [NotificationChannel: NotificationChannel] {
        Dictionary(
            uniqueKeysWithValues: (fallback ?? [:]).compactMap { key, value in
                NotificationChannel(rawValue: key).map { ($0, value) }
            })
    }
}

public struct NotificationRules: Sendable, Equatable {
    public var rules: [NotificationRule]

    public init(rules: [NotificationRule]) { self.rules = rules }

    /// Parses the rules file; errors name the problem, not the file's contents.
    public init(json: Data) throws(TemplateError) {
        struct File: Decodable { var rules: [NotificationRule] }
        do {
            rules = try JSONDecoder().decode(File.self, from: json).rules
        } catch {
            throw TemplateError(file: "notification-rules.json", reason: "is not a valid rules file: \(error)")
        }
        for rule in rules {
            guard NotificationRules.triggers.contains(rule.event) else {
                throw TemplateError(file: "notification-rules.json", reason: "names an unknown event '\(rule.event)'")
            }
            guard !rule.channels.isEmpty else {
                throw TemplateError(file: "notification-rules.json", reason: "rule for \(rule.event) has no channels")
            }
            guard Set(rule.channels).count == rule.channels.count else {
                throw TemplateError(file: "notification-rules.json", reason: "rule for \(rule.event) names a channel twice")
            }
            for (from, to) in rule.fallback ?? [:] {
                guard let channel = NotificationChannel(rawValue: from), rule.channels.contains(channel), channel != .inApp else {
                    throw TemplateError(
                        file: "notification-rules.json",
                        reason: "rule for \(rule.event) has a fallback for '\(from)', which is not one of its channels")
                }
                guard [.sms, .push, .webhook].contains(to), !rule.channels.contains(to) else {
                    throw TemplateError(
                        file: "notification-rules.json",
                        reason:
                            "rule for \(rule.event) falls back to '\(to.rawValue)': it must be sms, push or webhook, not one of its channels"
                    )
                }
            }
        }
    }

    /// What a rule's `event` may name: an event the service consumes, or a stock change it detects.
    static let triggers: Set<String> = Set([EventKind.paymentProcessed.rawValue] + StockNotice.Kind.allCases.map(\.rawValue))

    /// The first rule for `trigger` whose status matches (a rule without a status matches any).
    public func rule(for trigger: String, status: String?) -> NotificationRule? {
        rules.first { $0.event == trigger && ($0.status == nil || $0.status == status) }
    }
}

/// A template or rules file that cannot be used; start-up stops with this, naming the file.
public struct TemplateError: Error, Sendable, CustomStringConvertible {
    public var file: String
    public var reason: String

    public init(file: String, reason: String) {
        self.file = file
        self.reason = reason
    }

    public var description: String { "template file '\(file)' \(reason)" }
}
