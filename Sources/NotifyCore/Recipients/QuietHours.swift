import Foundation

/// A recipient's quiet hours: a daily window, in the recipient's time zone, in which nothing interrupts them. A
/// delivery on the normal or low lane that would leave inside it waits for the window's end (its job is held as a
/// scheduled one); the high lane (one-time codes, security alerts) never waits. Webhooks go to machines and in-app to
/// the inbox: neither waits. Asked when a delivery is claimed, so it also holds work already queued.
public struct QuietHours: Sendable, Equatable {
    /// Minutes after local midnight, 0 to 1439: where the window starts, and where it ends (the next day when the end
    /// is before the start: 22:00–07:00).
    public var start: Int
    public var end: Int

    public init(start: Int, end: Int) {
        self.start = start
        self.end = end
    }

    /// `{start: "HH:MM", end: "HH:MM"}`, 24-hour local times that differ.
    init(_ fields: JSONFields) throws(Rejection) {
        func minutes(_ key: String) throws(Rejection) -> Int {
            guard let text = try fields.optionalString(key, maxLength: 5) else {
                throw Rejection(.schema, "missing required field '\(fields.path)\(key)'")
            }
            let parts = text.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, parts.allSatisfy({ $0.count == 2 && $0.allSatisfy(\.isASCII) }), let hour = Int(parts[0]),
                let minute = Int(parts[1]), (0..<24).contains(hour), (0..<60).contains(minute)
            else { throw Rejection(.schema, "field '\(fields.path)\(key)' must be a 24-hour time HH:MM") }
            return hour * 60 + minute
        }
        start = try minutes("start")
        end = try minutes("end")
        guard start != end else { throw Rejection(.schema, "field '\(fields.path)end' must differ from 'start'") }
    }

    public var body: JSONValue { .object([("start", .string(Self.clock(start))), ("end", .string(Self.clock(end)))]) }

    /// The stored `quiet_hours` JSON; nil when it is not one.
    public static func parse(stored json: String) -> QuietHours? {
        guard let object = JSONParser.parse(Array(json.utf8)) as? [String: Any] else { return nil }
        return try? QuietHours(JSONFields(object))
    }

    /// Until when a delivery of `job` must wait at `now`, for a recipient in `timezone` (an IANA zone; UTC when it has
    /// none or one this system does not know); nil when it may leave now.
    public func deferral(of job: DeliveryJob, at now: Date, timezone: String?) -> Date? {
        guard job.lane != .high, [.email, .sms, .push].contains(job.channel) else { return nil }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timezone.flatMap(TimeZone.init(identifier:)) ?? TimeZone(identifier: "UTC")!
        let local = calendar.dateComponents([.hour, .minute], from: now)
        let minute = (local.hour ?? 0) * 60 + (local.minute ?? 0)
        let inside = start < end ? (start..<end).contains(minute) : minute >= start || minute < end
        guard inside else { return nil }
        // The next local end time after now; a day whose end time does not exist (a DST jump) takes the next one.
        return calendar.nextDate(
            after: now, matching: DateComponents(hour: end / 60, minute: end % 60, second: 0),
            matchingPolicy: .nextTime)
    }

    private static func clock(_ minutes: Int) -> String {
        let (hour, minute) = (minutes / 60, minutes % 60)
        return (hour < 10 ? "0" : "") + String(hour) + ":" + (minute < 10 ? "0" : "") + String(minute)
    }
}
