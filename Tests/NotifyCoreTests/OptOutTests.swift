import Testing

@testable import NotifyCore

@Suite("Opt-outs: what a recipient is not sent, and what they cannot refuse")
struct OptOutTests {
    static func upsert(_ json: String) throws(CommandFailure) -> UpsertRecipient {
        try UpsertRecipient(body: Array(json.utf8))
    }

    @Test("optOuts: left out keeps, null clears, a list replaces (category defaults to '*', repeats dropped)")
    func parsing() throws {
        #expect(try Self.upsert(#"{"userId":"u"}"#).optOuts == .keep)
        #expect(try Self.upsert(#"{"userId":"u","optOuts":null}"#).optOuts == .clear)
        let change = try Self.upsert(
            #"{"userId":"u","optOuts":[{"channel":"sms"},{"channel":"email","category":"NEWSLETTER"},{"channel":"sms"}]}"#)
        #expect(change.optOuts == .set([OptOut(channel: .sms), OptOut(channel: .email, category: "NEWSLETTER")]))
        let stored = change.applied(to: Recipient(userID: "u", email: "u@example.com"))
        #expect(stored.email == "u@example.com" && stored.optOuts.count == 2)
        #expect(UpsertRecipient(userID: "u", optOuts: .clear).applied(to: stored).optOuts.isEmpty)
        let full = try Self.upsert(
            #"{"userId":"u","email":"u@example.com","phone":null,"pushTokens":[{"platform":"fcm","token":"t1"}],"optOuts":[{"channel":"push","category":"NEWSLETTER"}],"timezone":"Europe/Berlin"}"#
        )
        #expect(try UpsertRecipient(body: full.body.bytes) == full, "what notifyctl sends reads back as the same change")
        #expect(OptOut.list(json: String(decoding: JSONValue.array(stored.optOuts.map(\.body)).bytes, as: UTF8.self)) == stored.optOuts)
    }

    @Test(
        "a bad opt-out is 400 naming the entry",
        arguments: [
            (#"{"userId":"u","optOuts":[{"channel":"fax"}]}"#, "optOuts[0].channel"),
            (#"{"userId":"u","optOuts":[{"channel":"sms"},{"channel":"in-app"}]}"#, "optOuts[1].channel"),
            (#"{"userId":"u","optOuts":{"channel":"sms"}}"#, "optOuts"),
        ])
    func refused(json: String, field: String) {
        #expect { try Self.upsert(json) } throws: {
            ($0 as? CommandFailure)?.status == 400 && ($0 as? CommandFailure)?.message.contains(field) == true
        }
    }

    @Test("categories: a known one passes, an unknown one and a critical (high-lane) one are 400 naming the entry")
    func categories() {
        let categories = MessageCategories()
        #expect(throws: Never.self) {
            try OptOut.check([OptOut(channel: .sms), OptOut(channel: .email, category: "NEWSLETTER")], against: categories)
        }
        for (category, reason) in [("OTP", "critical"), ("NO_SUCH", "not a message category")] {
            #expect { try OptOut.check([OptOut(channel: .sms), OptOut(channel: .sms, category: category)], against: categories) } throws: {
                ($0 as? CommandFailure)?.status == 400 && ($0 as? CommandFailure)?.message.contains("optOuts[1].category") == true
                    && ($0 as? CommandFailure)?.message.contains(reason) == true
            }
        }
    }

    @Test("suppression: the channel for that category or for every one; never another channel, never a critical delivery")
    func suppression() {
        func job(_ channel: NotificationChannel, _ lane: NotificationPriority, transactional: Bool) -> DeliveryJob {
            DeliveryJob(
                deliveryID: "d", notificationID: "n", userID: "u", channel: channel, lane: lane, transactional: transactional,
                content: MessageContent(subject: "s", text: "t", html: nil))
        }
        let optOuts = [OptOut(channel: .email, category: "NEWSLETTER"), OptOut(channel: .sms)]
        #expect(OptOut.suppresses(optOuts, job: job(.email, .low, transactional: false), category: "NEWSLETTER"))
        #expect(!OptOut.suppresses(optOuts, job: job(.email, .normal, transactional: true), category: "INVOICE"))
        #expect(!OptOut.suppresses(optOuts, job: job(.push, .low, transactional: false), category: "NEWSLETTER"))
        #expect(
            OptOut.suppresses(optOuts, job: job(.sms, .normal, transactional: true), category: "INVOICE"),
            "a send's transactional flag (no unsubscribe link) does not exempt it")
        #expect(!OptOut.suppresses(optOuts, job: job(.sms, .high, transactional: true), category: "OTP"), "critical")
        #expect(OptOut.suppresses(optOuts, job: job(.sms, .normal, transactional: false), category: nil), "FlowMart's stock alert")
        #expect(!OptOut.suppresses(optOuts, job: job(.sms, .normal, transactional: true), category: nil), "FlowMart's receipt")
        #expect(!OptOut.suppresses([], job: job(.sms, .low, transactional: false), category: "NEWSLETTER"))
    }
}
