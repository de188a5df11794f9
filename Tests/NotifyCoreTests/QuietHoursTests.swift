import Foundation
import Testing

@testable import NotifyCore

@Suite("Quiet hours: the window in the recipient's zone, across midnight and DST; the high lane, webhooks and in-app never wait")
struct QuietHoursTests {
    static func at(_ text: String) throws -> Date { try #require(RFC3339.date(from: text)) }
    static func job(_ channel: NotificationChannel = .email, lane: NotificationPriority = .normal) -> DeliveryJob {
        DeliveryJob(
            deliveryID: "d", notificationID: "n", userID: "u", channel: channel, lane: lane, transactional: false,
            content: MessageContent(subject: "s", text: "t", html: nil))
    }
    static func window(_ json: String) throws -> QuietHours { try QuietHours(JSONFields(try JSONInput().object(from: Array(json.utf8)))) }

    @Test("22:00–07:00 in Berlin: inside waits until 07:00 local, the next day from before midnight; outside goes")
    func overnight() throws {
        let night = try Self.window(#"{"start": "22:00", "end": "07:00"}"#)
        // 23:30 in Berlin (CET, UTC+1) on 5 December: held until 07:00 on the 6th, 06:00 UTC.
        #expect(
            night.deferral(of: Self.job(), at: try Self.at("2026-12-05T22:30:00Z"), timezone: "Europe/Berlin")
                == (try Self.at("2026-12-06T06:00:00Z")))
        // 03:00 Berlin: the same morning's 07:00.
        #expect(
            night.deferral(of: Self.job(.sms), at: try Self.at("2026-12-06T02:00:00Z"), timezone: "Europe/Berlin")
                == (try Self.at("2026-12-06T06:00:00Z")))
        #expect(
            night.deferral(of: Self.job(.push, lane: .low), at: try Self.at("2026-12-06T06:00:00Z"), timezone: "Europe/Berlin") == nil,
            "07:00 itself is outside")
        #expect(night.deferral(of: Self.job(), at: try Self.at("2026-12-05T12:00:00Z"), timezone: "Europe/Berlin") == nil)
        // No zone, or one the system does not know: UTC.
        #expect(
            night.deferral(of: Self.job(), at: try Self.at("2026-12-05T22:30:00Z"), timezone: nil) == (try Self.at("2026-12-06T07:00:00Z")))
        #expect(
            night.deferral(of: Self.job(), at: try Self.at("2026-12-05T22:30:00Z"), timezone: "Mars/Olympus")
                == (try Self.at("2026-12-06T07:00:00Z")))
    }

    @Test("a daytime window; the end across a DST change is the local wall-clock time")
    func daytimeAndDST() throws {
        let meeting = try Self.window(#"{"start": "09:00", "end": "17:30"}"#)
        #expect(
            meeting.deferral(of: Self.job(), at: try Self.at("2026-12-05T10:00:00-05:00"), timezone: "America/New_York")
                == (try Self.at("2026-12-05T17:30:00-05:00")))
        #expect(meeting.deferral(of: Self.job(), at: try Self.at("2026-12-05T08:59:00-05:00"), timezone: "America/New_York") == nil)
        // Europe moves to summer time at 02:00 on 29 March 2026: a night window ending 07:00 ends at 07:00 CEST, 05:00 UTC.
        let night = try Self.window(#"{"start": "23:00", "end": "07:00"}"#)
        #expect(
            night.deferral(of: Self.job(), at: try Self.at("2026-03-28T23:00:00Z"), timezone: "Europe/Berlin")
                == (try Self.at("2026-03-29T05:00:00Z")))
    }

    @Test("the high lane, webhooks and in-app never wait; the window's JSON round-trips and bad times are refused")
    func exemptAndParsing() throws {
        let always = try Self.window(#"{"start": "00:00", "end": "23:59"}"#)
        let noon = try Self.at("2026-12-05T12:00:00Z")
        #expect(always.deferral(of: Self.job(lane: .high), at: noon, timezone: nil) == nil)
        #expect(always.deferral(of: Self.job(.webhook), at: noon, timezone: nil) == nil)
        #expect(always.deferral(of: Self.job(.inApp), at: noon, timezone: nil) == nil)
        #expect(always.deferral(of: Self.job(.email, lane: .low), at: noon, timezone: nil) != nil)
        #expect(QuietHours.parse(stored: String(decoding: always.body.bytes, as: UTF8.self)) == always)
        for bad in [
            #"{"start": "24:00", "end": "07:00"}"#, #"{"start": "7:00", "end": "08:00"}"#, #"{"start": "07:00", "end": "07:00"}"#,
            #"{"start": "07:00"}"#, #"{"start": "07:0a", "end": "08:00"}"#,
        ] {
            #expect(throws: Rejection.self) { try Self.window(bad) }
        }
        let request = UpsertRecipient(userID: "u", quietHours: .set(always))
        #expect(try UpsertRecipient(body: request.body.bytes) == request)
        #expect(try UpsertRecipient(body: UpsertRecipient(userID: "u", quietHours: .clear).body.bytes).quietHours == .clear)
        #expect(request.applied(to: nil).quietHours == always)
    }
}
