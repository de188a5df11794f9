/// Why a message cannot be processed: the `x-dead-letter-reason` code and the `x-dead-letter-detail` sentence
/// it is parked with. The detail names the field or cause, never a value from the payload.
public struct Rejection: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: Reason
    public var detail: String

    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    public var description: String { "\(reason.rawValue): \(detail)" }

    /// Short codes of the contract (docs/api.md, "Parking reasons"); `invalid-utf8` and `too-deep` refine `invalid-json`.
    public enum Reason: String, Sendable, CaseIterable {
        case invalidJSON = "invalid-json"
        case invalidUTF8 = "invalid-utf8"
        case tooDeep = "too-deep"
        case schema
        case tooLarge = "too-large"
        case unknownRoutingKey = "unknown-routing-key"
        /// Valid, but storing it failed in a way a retry will not fix (e.g. a database constraint).
        case deliveryFailed = "delivery-failed"
        /// Dated further ahead of this service's clock than the allowed skew (`TimestampWindow`).
        case futureTimestamp = "future-timestamp"
        /// The daemon stopped (crashed) while processing this message alone, more than the allowed number of times.
        case poison
        /// A message property (such as `message_id`) is not valid UTF-8, so the message cannot be deduplicated.
        case invalidProperty = "invalid-property"
        /// A delivery that will not be made: a permanent provider error, or its last attempt failed. Parked with
        /// `x-delivery-id`, `x-channel`, `x-attempts`, `x-last-error-code` and `x-last-error-class`.
        case undeliverable
    }
}
