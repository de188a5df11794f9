import Testing

@testable import NotifyCore

@Suite("The recipient directory: addresses and updates")
struct RecipientTests {
    static func upsert(_ json: String) throws(CommandFailure) -> UpsertRecipient {
        try UpsertRecipient(body: Array(json.utf8))
    }

    @Test(
        "valid email addresses, normalised: the domain in lower case, international domains accepted",
        arguments: [
            ("ana@example.com", "ana@example.com"),
            ("Ana.Lopez+receipts@Example.COM", "Ana.Lopez+receipts@example.com"),
            ("o'brien!#$%&*=?^_`{|}~-@mail.example.org", "o'brien!#$%&*=?^_`{|}~-@mail.example.org"),
            ("jürgen@bücher.example", "jürgen@bücher.example"),
            ("用户@例子.广告", "用户@例子.广告"),
            (String(repeating: "a", count: 64) + "@example.com", String(repeating: "a", count: 64) + "@example.com"),
        ])
    func validEmails(input: String, normalised: String) throws {
        #expect(try ContactAddress.email(input) == normalised)
    }

    @Test(
        "invalid email addresses are refused with the rule they break, never the value",
        arguments: [
            "", "plain", "a@b@example.com", "@example.com", "ana@", "ana@localhost", ".ana@example.com", "ana.@example.com",
            "a..b@example.com", "\"quoted\"@example.com", "ana lopez@example.com", "ana@exa mple.com", "ana@-example.com",
            "ana@example-.com", "ana@example..com", "ana@example.123", "ana@[192.0.2.1]",
            String(repeating: "a", count: 65) + "@example.com",
            "ana@" + String(repeating: "a", count: 64) + ".com",
            "ana@" + Array(repeating: String(repeating: "a", count: 60), count: 5).joined(separator: ".") + ".com",
            String(repeating: "a", count: 64) + "@" + Array(repeating: String(repeating: "b", count: 60), count: 3).joined(separator: ".")
                + ".example.com",
            "ana@exa_mple.com", "ana@bü☃cher.example",
        ])
    func invalidEmails(input: String) {
        do {
            let accepted = try ContactAddress.email(input)
            Issue.record("accepted \(accepted)")
        } catch {
            #expect(error.reason == .schema)
            if input.count > 3 { #expect(!error.detail.contains(input), "the message names the rule, not the address") }
        }
    }

    @Test(
        "Punycode: RFC 3492's algorithm on labels with known encodings",
        arguments: [
            ("bücher", "bcher-kva"), ("münchen", "mnchen-3ya"), ("例子", "fsqu00a"), ("测试", "0zwm56d"),
        ])
    func punycode(label: String, encoded: String) {
        #expect(Punycode.encode(label) == encoded)
    }

    @Test("the length limits count the Punycode form of international labels")
    func punycodeLengths() throws {
        // 30 'ü' are 30 characters but far more octets in their ASCII form: over 63, so refused.
        #expect(throws: Rejection.self) { try ContactAddress.email("a@" + String(repeating: "ü", count: 60) + ".example") }
        #expect(try ContactAddress.email("a@" + String(repeating: "ü", count: 10) + ".example").hasPrefix("a@"))
    }

    @Test(
        "phones: E.164 after removing the separators people write",
        arguments: [
            ("+4915112345678", "+4915112345678"), ("+1 (415) 555-0100", "+14155550100"), ("+44.20.7946.0958", "+442079460958"),
        ])
    func validPhones(input: String, normalised: String) throws {
        #expect(try ContactAddress.phone(input) == normalised)
    }

    @Test(
        "phones without a country code, too long, starting with 0 or with letters are refused",
        arguments: ["015112345678", "+0151123", "+1234567890123456", "+1", "+49 151 CALL ME", "", "+"])
    func invalidPhones(input: String) {
        #expect(throws: Rejection.self) { try ContactAddress.phone(input) }
    }

    @Test("locales and time zones")
    func localeAndTimezone() throws {
        #expect(try ContactAddress.locale("pt-BR") == "pt-BR")
        #expect(try ContactAddress.locale("zh-Hant-TW") == "zh-Hant-TW")
        for bad in ["", "e", "english-language-tag-that-is-far-too-long", "en_US", "1a"] {
            #expect(throws: Rejection.self) { try ContactAddress.locale(bad) }
        }
        #expect(throws: CommandFailure.self) { try Self.upsert(#"{"userId":"u","timezone":"Mars/Olympus"}"#) }
        #expect(try Self.upsert(#"{"userId":"u","timezone":"Europe/Berlin"}"#).timezone == .set("Europe/Berlin"))
    }

    @Test("an update keeps what it leaves out, clears what it sets to null, and replaces the push tokens")
    func updates() throws {
        let first = try Self.upsert(
            #"{"userId":"u-1","email":"Ana@Example.com","phone":"+4915112345678","locale":"de","pushTokens":[{"platform":"apns","token":"ab12"},{"platform":"apns","token":"ab12"}]}"#
        )
        let created = first.applied(to: nil)
        #expect(
            created
                == Recipient(
                    userID: "u-1", email: "Ana@example.com", phone: "+4915112345678",
                    pushTokens: [PushToken(platform: .apns, token: "ab12")], locale: "de"))
        let second = try Self.upsert(#"{"userId":"u-1","phone":null,"pushTokens":[{"platform":"fcm","token":"f:1"}]}"#)
        let changed = second.applied(to: created)
        #expect(changed.email == "Ana@example.com" && changed.phone == nil && changed.locale == "de")
        #expect(changed.pushTokens == [PushToken(platform: .fcm, token: "f:1")])
        #expect(try Self.upsert(#"{"userId":"u-1","pushTokens":null}"#).applied(to: changed).pushTokens.isEmpty)
        let roundTrip = try UpsertRecipient(body: second.body.bytes)
        #expect(roundTrip == second, "the request encodes and decodes to itself")
    }

    @Test(
        "bad updates are 400s naming the field",
        arguments: [
            (#"{"email":"a@example.com"}"#, "userId"),
            (#"{"userId":"u","email":"nope"}"#, "email"),
            (#"{"userId":"u","email":42}"#, "email"),
            (#"{"userId":"u","pushTokens":[{"platform":"blackberry","token":"x"}]}"#, "platform"),
            (#"{"userId":"u","pushTokens":[{"platform":"fcm","token":""}]}"#, "token"),
            (#"{"userId":"u","pushTokens":{"platform":"fcm"}}"#, "pushTokens"),
        ])
    func badUpdates(body: String, field: String) {
        do {
            _ = try Self.upsert(body)
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.status == 400)
            #expect(error.message.contains(field))
        }
    }

    @Test("too many push tokens are refused")
    func tooManyTokens() {
        let tokens = (0...Recipient.maxPushTokens).map { #"{"platform":"fcm","token":"t\#($0)"}"# }.joined(separator: ",")
        #expect(throws: CommandFailure.self) { try Self.upsert(#"{"userId":"u","pushTokens":[\#(tokens)]}"#) }
    }
}
