import Foundation
import NotifyCore
import Testing

@testable import Providers

@Suite("SES v2: SigV4 signing and replies")
struct SESTests {
    @Test("SigV4: the signature botocore computes for the same request, key and time")
    func sigV4() {
        let signer = SigV4(
            accessKeyID: "AKIDEXAMPLE", secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            region: "eu-west-1", service: "ses")
        let headers = signer.headers(
            method: "POST", host: "email.eu-west-1.amazonaws.com", path: "/v2/email/outbound-emails",
            headers: [("Content-Type", "application/json")], body: Array(#"{"FromEmailAddress":"n@flowmart.example"}"#.utf8),
            date: Date(timeIntervalSince1970: 1_796_354_100))
        // botocore: SigV4Auth(Credentials(key, secret), "ses", "eu-west-1") on the same AWSRequest at 20261204T031500Z.
        #expect(headers.first { $0.0 == "X-Amz-Date" }?.1 == "20261204T031500Z")
        #expect(
            headers.first { $0.0 == "Authorization" }?.1 == """
                AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261204/eu-west-1/ses/aws4_request, \
                SignedHeaders=content-type;host;x-amz-date, \
                Signature=f23a30396857a827d362ff1030be483a71b075eb184b60d81ade476f5e0671db
                """)
        let tokened = SigV4(
            accessKeyID: "AKIDEXAMPLE", secretAccessKey: "secret", sessionToken: "token", region: "eu-west-1", service: "ses"
        )
        .headers(method: "POST", host: "h", path: "/", headers: [], body: [], date: Date(timeIntervalSince1970: 0))
        #expect(tokened.contains { $0 == ("X-Amz-Security-Token", "token") })
        #expect(tokened.last?.1.contains("SignedHeaders=host;x-amz-date;x-amz-security-token") == true)
    }

    @Test("replies: 200 with a MessageId is sent; SES's error types decide the class")
    func replies() {
        func reply(_ status: Int, _ type: String?, _ body: String = #"{"message": "no"}"#) -> DeliveryResult {
            SESEmailProvider.result(
                HTTPTransport.Response(
                    status: status, headers: type.map { [("x-amzn-ErrorType", "\($0):http://internal.amazon.com/")] } ?? [],
                    body: Array(body.utf8)))
        }
        #expect(reply(200, nil, #"{"MessageId": "0102-abc"}"#) == .sent(providerMessageID: "0102-abc"))
        func failure(_ result: DeliveryResult) -> DeliveryFailure? { if case .failed(let failure) = result { failure } else { nil } }
        #expect(failure(reply(400, "MessageRejected"))?.failureClass == .permanent)
        #expect(failure(reply(400, "MessageRejected"))?.code == "ses-MessageRejected")
        #expect(failure(reply(400, "SendingPausedException"))?.failureClass == .provider)
        #expect(failure(reply(403, "InvalidSignatureException"))?.failureClass == .provider)
        #expect(failure(reply(429, "TooManyRequestsException"))?.failureClass == .throttled)
        #expect(failure(reply(400, "LimitExceededException"))?.failureClass == .throttled)
        #expect(failure(reply(500, "InternalFailure"))?.failureClass == .transient)
    }
}
