import Foundation
import Testing

@testable import NotifyCore

@Suite("The seed platform's per-channel send bodies, read as this service's own")
struct SeedPayloadTests {
    @Test(
        "the seed's payload: email, SMS and push read as recipient and content (the same request, the same hash); template_fields; refusals name its fields"
    )
    func seedPayload() throws {
        let email = try SendRequestTests.parse(
            #"{"channel":"email","message_category":"OTP","payload":{"to":"Ana@Example.com","sender":"x","subject":"Sign in","html":"<p>Code <b>1</b></p>"}}"#
        )
        #expect(email.recipients == [SendRequest.Recipient(userID: email.recipients[0].userID, email: "Ana@example.com")])
        #expect(
            email.message
                == .content(SendRequest.Content(title: "Sign in", body: "Code 1", subject: "Sign in", html: "<p>Code <b>1</b></p>")))
        let own = try SendRequestTests.parse(
            #"{"channel":"email","messageCategory":"OTP","recipient":{"email":"Ana@Example.com"},"content":{"title":"Sign in","subject":"Sign in","body":"Code 1","html":"<p>Code <b>1</b></p>"}}"#
        )
        #expect(own.hash == email.hash, "the seed's shape is the same request as ours")

        let sms = try SendRequestTests.parse(
            #"{"channel":"sms","message_category":"OTP","payload":{"to":"+1 415 555 0111","body":"\n123456 is your code\nDo not share it"}}"#
        )
        #expect(sms.recipients.first?.phone == "+14155550111")
        #expect(sms.message == .content(SendRequest.Content(title: "123456 is your code", body: "\n123456 is your code\nDo not share it")))
        let push = try SendRequestTests.parse(
            #"{"channel":"push","message_category":"OTP","payload":{"token":"device-1","title":"Code","body":"123456"}}"#)
        #expect(push.recipients.first?.pushToken == PushToken(platform: .fcm, token: "device-1"))
        #expect(
            push.recipients.first?.userID.hasPrefix("address:") == true && push.recipients.first?.userID != sms.recipients.first?.userID)
        let templated = try SendRequestTests.parse(
            #"""
            {"channel":"email","message_category":"OTP","payload":{"to":"a@b.co","template_fields":{"template_name":"otp",
             "global_merge_vars":[{"name":"code","content":"123456"},{"name":"n","content":3}],"merge_language":"handlebars"}}}
            """#)
        guard case .template(let use) = templated.message else {
            Issue.record("expected a template")
            return
        }
        #expect(use.name == "otp" && use.data.value.bytes == JSONValue.object([("code", .string("123456")), ("n", .int(3))]).bytes)

        for (body, field) in [
            (#""channel":"email","payload":{"to":"a@b.co","subject":"s"}"#, "payload.html"),
            (#""channel":"email","payload":{"to":"nobody","subject":"s","html":"h"}"#, "payload.to"),
            (#""channel":"sms","payload":{"to":"555","body":"b"}"#, "payload.to"),
            (#""channel":"push","payload":{"title":"t","body":"b"}"#, "payload.token"),
            (
                #""channel":"email","payload":{"to":"a@b.co","template_fields":{"template_name":"t","global_merge_vars":[{"name":"x"}]}}"#,
                "payload.template_fields.global_merge_vars[0].content"
            ),
            (#""channels":["email","sms"],"payload":{"to":"a@b.co"}"#, "payload"),
            (#""channel":"email","payload":{"to":"a@b.co"},"content":{"title":"t","body":"b"}"#, "payload"),
            (#""channel":"in-app","payload":{"to":"a@b.co"}"#, "payload"),
            (#""channel":"email","payload":"to a@b.co""#, "payload"),
        ] {
            let refusal = SendRequestTests.refusal(#"{"message_category":"OTP",\#(body)}"#)
            #expect(refusal?.contains("'\(field)") == true, "\(body): \(refusal ?? "accepted")")
        }
    }

    @Test("HTML as plain text: breaks kept, tags and scripts dropped, entities decoded, blank runs collapsed")
    func plainText() {
        #expect("<p>Hello&nbsp;<b>Ana</b></p><p>Line&nbsp;2<br>Line 3</p>".plainTextFromHTML == "Hello Ana\n\nLine 2\nLine 3")
        #expect("<style>p {}</style><script>alert(1)</script>Text &lt;ok&gt; &amp; done".plainTextFromHTML == "Text <ok> & done")
        #expect("<ul><li>a</li>\n\n\n<li>b</li></ul>".plainTextFromHTML == "a\n\nb")
        #expect("unclosed <b".plainTextFromHTML == "unclosed <b")
        #expect("<SCRIPT>x</SCRIPT>y".plainTextFromHTML == "y")
    }
}
