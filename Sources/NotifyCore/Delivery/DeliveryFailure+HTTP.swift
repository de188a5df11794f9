import CivilDate

/// How an HTTP provider's answers are classified (docs/architecture.md, "Classified once"): what the
/// retry policy does with them and, through the class, what counts against the provider's breaker.
extension DeliveryFailure {
    /// An answer that was not success, by status: 429 throttles (with `Retry-After`); 401 and 403 mean the
    /// provider refuses our credentials, so nothing can go through it; 408 and 5xx are transient; any other 4xx is
    /// about this message (its address, its content) and permanent. `code` names it in the history (`http-400`,
    /// or the provider's own code such as `twilio-21211`).
    public static func http(status: Int, code: String? = nil, detail: String, retryAfter: Double? = nil) -> DeliveryFailure {
        let failureClass: Class =
            switch status {
            case 429: .throttled
            case 401, 403: .provider
            case 408, 500...599: .transient
            case 400...499: .permanent
            default: .transient  // a redirect or an informational answer where success was due: try again later
            }
        return DeliveryFailure(
            code: code ?? "http-\(status)", failureClass, detail: "HTTP \(status): \(String(detail.prefix(512)))",
            retryAfter: failureClass == .throttled ? retryAfter : nil)
    }

    /// An answer whose body passed `limit` bytes (or announced that it would): it was not read further, so what
    /// the server made of the request is unknown, as when a connection is lost mid-answer; transient, like that.
    public static func responseTooLarge(limit: Int) -> DeliveryFailure {
        DeliveryFailure(code: "response-too-large", .transient, detail: "the response body is larger than \(limit / 1024) KiB: not read")
    }

    /// Twilio's Messages API (error codes from its error dictionary): per-number codes end the delivery whatever
    /// the status; 20003 (authentication) and 20404 (no such account) mean the account is unusable; 20429 and
    /// HTTP 429 throttle; the rest follows `http(status:)`.
    public static func twilio(status: Int, errorCode: Int?, message: String, retryAfter: Double?) -> DeliveryFailure {
        let code = errorCode.map { "twilio-\($0)" }
        switch errorCode {
        case 21211, 21408, 21610, 21612, 21614:  // invalid To, region not enabled, unsubscribed, unroutable, not SMS-capable
            return DeliveryFailure(code: code!, .permanent, detail: "HTTP \(status): \(String(message.prefix(512)))")
        case 20003, 20404:
            return DeliveryFailure(code: code!, .provider, detail: "HTTP \(status): \(String(message.prefix(512)))")
        case 20429:
            return http(status: 429, code: code, detail: message, retryAfter: retryAfter)
        default:
            return http(status: status, code: code, detail: message, retryAfter: retryAfter)
        }
    }
}

extension DeliveryFailure {
    /// FCM's minimum wait after `QUOTA_EXCEEDED` ("a minimum initial delay of 1 minute").
    public static let fcmQuotaSeconds = 60.0

    /// FCM HTTP v1's `errorCode` (its ErrorCode reference): `UNREGISTERED` and `SENDER_ID_MISMATCH` mean the token is
    /// no longer ours to send to (it is removed from the recipient), `INVALID_ARGUMENT` is about this message;
    /// `QUOTA_EXCEEDED` throttles for at least a minute; `THIRD_PARTY_AUTH_ERROR` (APNs credentials behind FCM)
    /// is provider-wide; `UNAVAILABLE` and `INTERNAL` are transient, as the status says.
    public static func fcm(status: Int, errorCode: String?, message: String, retryAfter: Double?) -> DeliveryFailure {
        let code = "fcm-\(errorCode ?? String(status))"
        let detail = "HTTP \(status): \(String(message.prefix(512)))"
        switch errorCode {
        case "UNREGISTERED", "SENDER_ID_MISMATCH", "INVALID_ARGUMENT":
            return DeliveryFailure(code: code, .permanent, detail: detail)
        case "THIRD_PARTY_AUTH_ERROR":
            return DeliveryFailure(code: code, .provider, detail: detail)
        case _ where status == 401:
            // Our access token expired or was revoked: the provider gets a new one for the next try.
            return DeliveryFailure(code: code, .transient, detail: detail)
        case "QUOTA_EXCEEDED":
            return DeliveryFailure(code: code, .throttled, detail: detail, retryAfter: Swift.max(retryAfter ?? 0, fcmQuotaSeconds))
        default:
            return http(status: status, code: code, detail: message, retryAfter: retryAfter)
        }
    }

    /// Whether the token a push failed for is no longer ours to send to.
    public var unregistersToken: Bool {
        ["fcm-UNREGISTERED", "fcm-SENDER_ID_MISMATCH", "apns-Unregistered", "apns-ExpiredToken", "apns-410"].contains(code)
    }
}

extension DeliveryFailure {
    /// APNs' `reason` (its "Handling notification responses" table): 410 `Unregistered` (and `ExpiredToken`) mean the
    /// device token is no longer valid (it is removed from the recipient); `BadDeviceToken`, `DeviceTokenNotForTopic`
    /// and `PayloadTooLarge` are about this token or this message; every 403 (`InvalidProviderToken`,
    /// `ExpiredProviderToken`, a bad key or team) and `BadTopic`, `TopicDisallowed` and
    /// `TooManyProviderTokenUpdates` mean nothing can be sent with our credentials; `TooManyRequests` is one device
    /// getting too many, so this push waits and tries again without slowing the provider; 500 and 503 are transient.
    public static func apns(status: Int, reason: String?, retryAfter: Double?) -> DeliveryFailure {
        let code = "apns-\(reason ?? String(status))"
        let detail = "HTTP \(status): \(reason ?? "no reason given")"
        switch (status, reason) {
        case (410, _), (_, "BadDeviceToken"), (_, "DeviceTokenNotForTopic"), (_, "PayloadTooLarge"), (_, "Unregistered"):
            return DeliveryFailure(code: code, .permanent, detail: detail)
        case (403, _), (_, "BadTopic"), (_, "TopicDisallowed"), (_, "TooManyProviderTokenUpdates"), (_, "MissingTopic"):
            return DeliveryFailure(code: code, .provider, detail: detail)
        case (429, _):
            return DeliveryFailure(code: code, .transient, detail: detail)
        default:
            return http(status: status, code: code, detail: reason ?? "no reason given", retryAfter: retryAfter)
        }
    }
}

/// `Retry-After` (RFC 9110 §10.2.3): delay-seconds, or an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) taken
/// relative to `now` (seconds since 1970). Nil when absent or unreadable; never negative.
public enum RetryAfter {
    public static func seconds(_ header: String?, now: Double) -> Double? {
        guard let header = header?.trimmingSpaces, !header.isEmpty else { return nil }
        if header.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            return header.count <= 9 ? Double(header) : RetryPolicy.maxThrottleSeconds
        }
        let parts = header.split(separator: " ")
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        guard parts.count == 6, parts[5] == "GMT", let day = Int(parts[1]), (1...31).contains(day),
            let month = months.firstIndex(of: String(parts[2])), let year = Int(parts[3]), (1970...9999).contains(year)
        else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int($0) }
        guard clock.count == 3, (0...23).contains(clock[0]), (0...59).contains(clock[1]), (0...60).contains(clock[2]) else { return nil }
        let days = CivilDate.daysSinceEpoch(year: year, month: month + 1, day: day)
        let at = Double(days * 86_400 + clock[0] * 3600 + clock[1] * 60 + clock[2])
        return Swift.max(0, at - now)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        String(self.drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
