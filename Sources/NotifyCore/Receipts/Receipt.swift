/// What a provider reported about a delivery after it accepted it: a status callback or an event webhook,
/// its signature already checked (`Providers`). Merged into the delivery by `ReceiptStatus.supersedes`.
public struct Receipt: Sendable, Equatable {
    /// Ours, carried in the callback URL we gave the provider, so a receipt that overtakes the record of its
    /// send still finds its delivery.
    public var deliveryID: String
    /// The configured provider that sent it (the `provider` of its metrics).
    public var provider: String
    /// The provider's id for the message (Twilio's `MessageSid`).
    public var providerMessageID: String?
    /// What the provider said, as it said it (`sent`, `delivered`, `undelivered`, ...): for the history.
    public var providerStatus: String
    /// What it means for the delivery; nil for a state on the way (`queued`, `sending`, `sent`) that changes
    /// nothing.
    public var status: ReceiptStatus?
    /// The provider's error code for a message it could not deliver (Twilio's `ErrorCode`).
    public var errorCode: String?

    public init(
        deliveryID: String, provider: String, providerMessageID: String?, providerStatus: String,
        status: ReceiptStatus?, errorCode: String? = nil
    ) {
        self.deliveryID = deliveryID
        self.provider = provider
        self.providerMessageID = providerMessageID
        self.providerStatus = providerStatus
        self.status = status
        self.errorCode = errorCode
    }
}

/// The outcomes a receipt can record.
public enum ReceiptStatus: String, Sendable, CaseIterable {
    /// On the device, or in the mailbox.
    case delivered
    /// The carrier or the handset could not take it (an SMS).
    case undelivered
    /// The receiving mail server refused it after the provider accepted it.
    case bounced

    public var deliveryStatus: DeliveryStatus {
        switch self {
        case .delivered: .delivered
        case .undelivered: .undelivered
        case .bounced: .bounced
        }
    }

    /// The statuses a receipt of this kind may replace. Receipts only move a delivery forward, so callbacks
    /// that arrive out of order (a late `sent` after `delivered`, a `delivered` after `undelivered`) change
    /// nothing; a failure reported after `delivered` wins (a bounce after the server accepted the message).
    public var supersedes: [DeliveryStatus] {
        switch self {
        case .delivered: [.sent]
        case .undelivered, .bounced: [.sent, .delivered]
        }
    }

    /// Twilio's `MessageStatus` (its message status values): `delivered` and `read` are delivered;
    /// `undelivered` and `failed` are undelivered; the rest are states on the way.
    public static func twilio(_ status: String) -> ReceiptStatus? {
        switch status {
        case "delivered", "read": .delivered
        case "undelivered", "failed": .undelivered
        default: nil
        }
    }

    /// An SES event's type (event publishing's `eventType`, a notification's `notificationType`): `Delivery` is
    /// delivered; a `Permanent` bounce is bounced; any other bounce (`Transient`, `Undetermined`) and a `Reject`
    /// (a virus) are undelivered; the rest (`Send`, `Open`, `Click`, `Complaint`, `DeliveryDelay`) change nothing.
    public static func ses(_ type: String, bounceType: String?) -> ReceiptStatus? {
        switch type {
        case "Delivery": .delivered
        case "Bounce": bounceType == "Permanent" ? .bounced : .undelivered
        case "Reject": .undelivered
        default: nil
        }
    }
}
