import NotifyCore

/// The boundary every channel's provider sits behind: the delivery worker hands it a batch of claimed deliveries
/// and gets one result per delivery, in order, each failure already classified (`DeliveryFailure`). A provider
/// never throws and never retries what reached its server: retries are the pipeline's (tiers, attempts).
public protocol DeliveryProvider: Sendable {
    var channel: NotificationChannel { get }
    /// The name it is configured under, the `provider` label of its metrics.
    var name: String { get }
    /// For logs and status: where it sends, never credentials.
    var endpoint: String { get }
    /// The pace it may be sent to, shared by every daemon (`RateLimitStore`); nil when unlimited.
    var rateLimit: RateLimit? { get }
    /// Its receipts endpoint on the daemon's HTTP listener, if it sends any.
    var receipts: (any ReceiptSource)? { get }
    /// Whether its failures are its own (a circuit breaker judges them) or each destination's (webhook endpoints).
    var usesBreaker: Bool { get }
    /// For push, the platform whose device tokens it sends to: a push goes through one provider per platform its
    /// recipient has tokens for.
    var platform: PushToken.Platform? { get }
    func send(_ deliveries: [ClaimedDelivery]) async -> [DeliveryResult]
    func shutdown() async
}

extension DeliveryProvider {
    public var receipts: (any ReceiptSource)? { nil }
    public var usesBreaker: Bool { true }
    public var platform: PushToken.Platform? { nil }
}
