import Foundation
import NotifyCore
import StackSupport
import Testing

@testable import Providers

/// Every response body from a provider or a webhook is read as it streams, at most `HTTPTransport.maxBodyBytes`,
/// within the request's deadline: the transport against a receiver that streams what a test asks for, then the
/// daemon against a webhook endpoint that answers 200 with 500 MB.
@Suite("Response bodies: streamed, at most 64 KiB, within the deadline", .needsStack)
struct ResponseBoundTests {
    static func post(
        _ transport: HTTPTransport, _ url: String, timeout: Duration = .seconds(10)
    ) async -> Result<HTTPTransport.Response, DeliveryFailure> {
        await transport.execute([HTTPTransport.post(url, headers: [], body: [], orElse: .connection("not a URL"))], timeout: timeout)[0]
    }

    @Test(
        "64 KiB is read whole; a byte more, streamed or announced (up to 10 GB), is response-too-large at once; a trickle ends at the deadline"
    )
    func boundedReader() async throws {
        let receiver = try WebhookReceiver(secret: WebhookReceiver.newSecret())
        let transport = HTTPTransport()
        defer { Task { await transport.shutdown() } }
        let limit = HTTPTransport.maxBodyBytes
        let whole = try await Self.post(transport, receiver.url("stream?bytes=\(limit)&chunk=1000")).get()
        #expect(whole.status == 200 && whole.body.count == limit)
        for query in [
            "bytes=\(limit + 1)", "bytes=\(limit + 1)&chunk=1000", "bytes=\(limit + 1)&announce", "bytes=10000000000&announce",
            "bytes=500000000",
        ] {
            let started = ContinuousClock.now
            switch await Self.post(transport, receiver.url("stream?\(query)")) {
            case .failure(let failure):
                #expect(failure == .responseTooLarge(limit: limit), "\(query)")
                #expect(failure.failureClass == .transient && failure.detail == "the response body is larger than 64 KiB: not read")
            case .success(let response):
                Issue.record("\(query): read \(response.body.count) bytes of a body past the limit")
            }
            #expect(ContinuousClock.now - started < .seconds(5), "\(query): stopped reading at the limit")
        }
        // 10 bytes every 50 ms: never past the limit, never done; the deadline covers the body too.
        let started = ContinuousClock.now
        let trickle = await Self.post(transport, receiver.url("stream?bytes=100000&chunk=10&delay=0.05"), timeout: .seconds(1))
        guard case .failure(let late) = trickle else {
            Issue.record("a body that never ends was read")
            return
        }
        #expect(late.code == "timeout", "\(late)")
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test(
        "a webhook endpoint answering 200 with 500 MB: each attempt fails response-too-large; the daemon's peak RSS grows by less than 48 MiB"
    )
    func hugeWebhookAnswer() async throws {
        let secret = WebhookReceiver.newSecret()
        let receiver = try WebhookReceiver(secret: secret)
        let rules = try TestRules(channels: ["in-app", "webhook"])
        let service = try await WebhookDeliveryTests.service(allowLoopback: true, rules: rules)
        defer { Task { await service.shutDown() } }
        _ = try await WebhookDeliveryTests.register("flooded", url: receiver.url("stream?bytes=500000000"), secrets: [secret], service)
        let before = try #require(service.daemon.peakResidentBytes)
        try await service.publish([Payments.confirmed(user: "flooded", index: 1)])

        var dead: [String: Any] = [:]
        let deadline = ContinuousClock.now + .seconds(60)
        repeat {
            try await Task.sleep(for: .milliseconds(100))
            dead = try await EmailDeliveryTests.delivery(of: "flooded", channel: "webhook", service, until: nil)
        } while !["sent", "dead"].contains(dead["status"] as? String) && ContinuousClock.now < deadline
        #expect(dead["status"] as? String == "dead" && (dead["lastError"] as? [String: Any])?["code"] as? String == "response-too-large")
        let attempts = try #require(dead["attempts"] as? Int)
        #expect(attempts == 3, "every attempt read, failed and retried: \(dead)")
        #expect(
            try await receiver.received().filter { $0["path"] as? String == "stream" && $0["verified"] as? Bool == true }.count == attempts)
        let after = try #require(service.daemon.peakResidentBytes)
        #expect(after - before < 48 << 20, "peak RSS \(before >> 20) MiB before, \(after >> 20) MiB after")
        #expect(try await service.call("GetUserNotifications", ["userId": "flooded"]).status == 200, "the daemon still answers")
    }
}
