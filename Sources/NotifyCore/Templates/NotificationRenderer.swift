import Foundation

/// A notification decided on, not yet stored.
public struct NewNotification: Sendable, Equatable {
    /// Minted by the planner (a UUID), so its deliveries can name it in the same transaction.
    public var id: String
    public var userID: String
    public var type: String
    public var priority: NotificationPriority
    public var channels: [NotificationChannel]
    public var title: String
    public var message: String
    /// Stored as JSON; `orderId` for payments (the catalog's `metadata` shape).
    public var metadata: [String: String]
    /// Deduplication key of the event it came from.
    public var sourceEventKey: String
    /// Whether it may be unsubscribed from (its rule's `transactional`).
    public var transactional: Bool = true
    /// The email, rendered when the rule sends one.
    public var email: MessageContent?
    /// What SMS and push send when it is not the title and message (a product template's parts of their own).
    public var channelTexts: [NotificationChannel: MessageContent] = [:]
    /// Its rule's channel fallbacks.
    public var fallbacks: [NotificationChannel: NotificationChannel] = [:]
    /// The tenant that sent it (the send API); nil for FlowMart's own events.
    public var tenant: Tenant? = nil
    /// The send request it belongs to; nil for events.
    public var requestID: String? = nil
    /// The send's message category; nil for events.
    public var category: String? = nil
    /// Whether a transient failure is tried again (the retry tiers); a send's `retryEnabled: false` makes it one
    /// attempt.
    public var retries: Bool = true
    /// Batch its email, SMS and push deliveries with the recipient's other notifications of its `type` (a send's
    /// category); nil to send each on its own.
    public var digest: DigestPolicy? = nil
    /// When its in-app copy shows in the inbox (a scheduled send's time: stored as its `created_at`, so the inbox
    /// orders it by when it appeared); nil for at once.
    public var visibleFrom: Date? = nil

    /// Whether its in-app copy is in the inbox at `now`.
    public func isVisible(at now: Date) -> Bool { visibleFrom.map { $0 <= now } ?? true }
}

/// Maps validated events to notifications through the rules and templates.
public struct NotificationRenderer: Sendable {
    public let rules: NotificationRules
    public let templates: TemplateCatalog

    public init(rules: NotificationRules, templates: TemplateCatalog) {
        self.rules = rules
        self.templates = templates
    }

    /// The notification for a payment, or nil when no rule asks for one (by default: `pending`).
    public func notification(for payment: PaymentProcessed, eventKey: String, id: String) -> NewNotification? {
        guard let rule = rules.rule(for: EventKind.paymentProcessed.rawValue, status: payment.status.rawValue),
            let texts = templates.render(rule.template, fields: payment.templateFields)
        else { return nil }
        return NewNotification(
            id: id, userID: payment.userID, type: rule.type, priority: rule.priority, channels: rule.channels,
            title: texts.title, message: texts.message, metadata: ["orderId": payment.orderID],
            sourceEventKey: eventKey, transactional: rule.isTransactional, email: texts.email, fallbacks: rule.fallbacks,
            digest: rule.digest)
    }

    /// One notification per recipient of a stock notice, or none when no rule asks for one.
    public func notifications(for notice: StockNotice, recipients: [String], newID: () -> String) -> [NewNotification] {
        guard let rule = rules.rule(for: notice.kind.rawValue, status: nil),
            let texts = templates.render(rule.template, fields: notice.templateFields)
        else { return [] }
        var metadata = ["productId": notice.productID]
        if !notice.warehouseID.isEmpty { metadata["warehouseId"] = notice.warehouseID }
        return recipients.map { user in
            NewNotification(
                id: newID(), userID: user, type: rule.type, priority: rule.priority, channels: rule.channels, title: texts.title,
                message: texts.message, metadata: metadata, sourceEventKey: notice.eventKey,
                transactional: rule.isTransactional, email: texts.email, fallbacks: rule.fallbacks, digest: rule.digest)
        }
    }
}
