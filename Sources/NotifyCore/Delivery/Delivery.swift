/// Where a delivery stands. The state machine only moves forward:
///
/// `queued → sending → sent (accepted by the provider) → delivered → undelivered | bounced` (the last three from
/// receipts, merged monotonically: `ReceiptStatus`);
/// `sending → failed` (will retry) `→ sending`; after the last attempt or a permanent error `dead`; and
/// `skipped` when there is nothing to send to (no address, no provider for the channel). An in-app delivery is
/// the notification's inbox row itself: `delivered` when it commits. A delivery batched into a digest goes
/// `batched → digested` when the digest leaves; the digest is a delivery of its own.
public enum DeliveryStatus: String, Sendable, CaseIterable {
    case queued, sending, sent, delivered, undelivered, bounced, failed, dead, skipped
    /// Stopped by `CancelRequest` before it left.
    case cancelled
    /// A send's delivery waiting for its `scheduledAt`; then `queued`.
    case scheduled
    /// Waiting in a digest (`DigestPolicy`) for the digest to leave; then `digested`.
    case batched
    /// Sent as part of a digest: its history names the digest's delivery, whose status says the rest.
    case digested

    /// The states a delivery rests in: nothing more will be done for it (a receipt may still move a sent one, which
    /// retention waits for by its horizon).
    public static let finished: [DeliveryStatus] = [.sent, .delivered, .undelivered, .bounced, .dead, .skipped, .cancelled, .digested]
}

/// One channel of one notification that leaves the building, decided by the planner and written with the
/// notification.
public struct NewDelivery: Sendable, Equatable {
    public var id: String
    public var notificationID: String
    public var userID: String
    public var channel: NotificationChannel
    public var status: DeliveryStatus
    /// Why it was skipped (`no-provider`, `no-address`), for the history.
    public var reason: String?
    /// Its notification's tenant; nil for FlowMart's own.
    public var tenant: Tenant?
    /// The digest a `batched` delivery waits in (set by the store, which decides that under the digest's lock).
    public var digestID: String?

    public init(
        id: String, notificationID: String, userID: String, channel: NotificationChannel, status: DeliveryStatus,
        reason: String? = nil, tenant: Tenant? = nil
    ) {
        self.tenant = tenant
        self.id = id
        self.notificationID = notificationID
        self.userID = userID
        self.channel = channel
        self.status = status
        self.reason = reason
    }
}

/// A state a delivery enters after an attempt, as the worker records it (with a history entry).
public struct DeliveryTransition: Sendable, Equatable {
    public var deliveryID: String
    public var status: DeliveryStatus
    public var attempt: Int
    public var providerMessageID: String?
    /// The address a `sent` delivery went to: only its SHA-256 is kept.
    public var address: String?
    public var failure: DeliveryFailure?

    public init(
        deliveryID: String, status: DeliveryStatus, attempt: Int, providerMessageID: String? = nil,
        address: String? = nil, failure: DeliveryFailure? = nil
    ) {
        self.deliveryID = deliveryID
        self.status = status
        self.attempt = attempt
        self.providerMessageID = providerMessageID
        self.address = address
        self.failure = failure
    }
}
