import Foundation

/// The event timestamps this service believes. An adjustment's timestamp decides which level wins (latest wins), so
/// one far-future timestamp would make every later adjustment of that product look late and freeze its stock:
/// events dated after the Unix epoch and at most `allowedSkewSeconds` ahead of this service's clock are accepted; later
/// ones are parked as `future-timestamp` and change nothing.
public struct TimestampWindow: Sendable, Equatable {
    /// The earliest accepted timestamp: 1970-01-01T00:00:00Z.
    public static let earliest = Date(timeIntervalSince1970: 0)
    /// How far ahead of this service's clock an event may be dated (clock skew between services). Default 300 s.
    public var allowedSkewSeconds: Int

    public init(allowedSkewSeconds: Int = 300) {
        self.allowedSkewSeconds = allowedSkewSeconds
    }

    /// Throws `schema` for a timestamp before the epoch, `future-timestamp` for one too far ahead of `now`.
    public func check(_ date: Date, field: String, now: Date) throws(Rejection) {
        guard date >= Self.earliest else {
            throw Rejection(.schema, "field '\(field)' must not be before 1970-01-01T00:00:00Z")
        }
        guard date.timeIntervalSince(now) <= Double(allowedSkewSeconds) else {
            throw Rejection(.futureTimestamp, "field '\(field)' is more than \(allowedSkewSeconds) s ahead of this service's clock")
        }
    }
}
