/// The send API's `messageCategory`: which lane a send goes on, after the seed platform's list (urgent and
/// transactional on `high`, reminders and confirmations on `normal`, marketing on `low`). Configuration
/// (`send.categories.*`) replaces any of the three lists.
public struct MessageCategories: Sendable, Equatable {
    public var lanes: [String: NotificationPriority]

    public static let defaultHigh = [
        "OTP", "PASSWORD_RESET", "SECURITY_ALERT", "FRAUD_ALERT", "TWO_FACTOR_AUTH_PROMPT", "PAYMENT_CONFIRMATION",
        "PAYMENT_FAILED", "ACCOUNT_LOCKED", "LOGIN_ALERT", "ACCOUNT_VERIFICATION", "EMAIL_VERIFICATION", "PHONE_VERIFICATION",
        "TRANSACTION_ALERT", "SUSPICIOUS_ACTIVITY_ALERT",
    ]
    public static let defaultNormal = [
        "ORDER_CONFIRMATION", "SHIPPING_UPDATE", "DELIVERY_CONFIRMATION", "APPOINTMENT_REMINDER", "PAYMENT_REMINDER",
        "SUBSCRIPTION_RENEWAL", "BOOKING_CONFIRMATION", "EVENT_REMINDER", "ACCOUNT_UPDATE", "INVOICE", "REFUND_CONFIRMATION",
        "WELCOME_MESSAGE", "SUPPORT_TICKET_UPDATE", "RESERVATION_CONFIRMATION", "TASK_REMINDER", "BILLING_STATEMENT",
        "PASSWORD_CHANGED", "PROFILE_UPDATE", "ORDER_CANCELLATION", "RETURN_CONFIRMATION",
    ]
    public static let defaultLow = [
        "NEWS_UPDATE", "PERSONALIZED_OFFERS", "RE_ENGAGEMENT_CAMPAIGNS", "CART_ABANDONMENT_REMINDER",
        "PRODUCT_BACK_IN_STOCK_ALERT", "NEWSLETTER", "PROMOTIONAL_OFFER", "PRODUCT_RECOMMENDATION", "SURVEY_REQUEST",
        "FEEDBACK_REQUEST", "LOYALTY_PROGRAM_UPDATE", "SEASONAL_SALE", "REFERRAL_INVITATION", "PRICE_DROP_ALERT",
    ]

    /// The lists by lane; a category named on two lanes is a configuration error (the caller checks `duplicates`).
    public init(high: [String] = defaultHigh, normal: [String] = defaultNormal, low: [String] = defaultLow) {
        var lanes: [String: NotificationPriority] = [:]
        for (names, lane) in [(low, NotificationPriority.low), (normal, .normal), (high, .high)] {
            for name in names { lanes[name] = lane }
        }
        self.lanes = lanes
        duplicates = Set(high).intersection(normal).union(Set(high).intersection(low)).union(Set(normal).intersection(low))
    }

    /// Categories listed on more than one lane.
    public let duplicates: Set<String>

    public func lane(_ category: String) -> NotificationPriority? { lanes[category] }
}
