import Foundation
import NotifyCore
import StackSupport
import Synchronization
import Testing

@testable import Providers

/// DNS rebinding: a webhook's host is resolved once per batch, every address checked, and the connection made to
/// the checked address, never to what a second resolution would say; the request still names the host (Host header,
/// TLS server name, the certificate's name). The resolver is the test's: it plays a DNS server whose answer changes.
@Suite("Webhook egress: resolved once, connected to the checked address, named by its host", .needsStack)
struct WebhookRebindingTests {
    /// A DNS server whose answers for a name change: the first call gets `answers[0]`, the next `answers[1]`, and
    /// so on (the last repeats). Counts the calls.
    final class ChangingResolver: Sendable {
        let answers: [[[UInt8]]]
        let calls = Mutex<[String]>([])

        init(_ answers: [[[UInt8]]]) { self.answers = answers }

        func resolve(_ host: String) -> [[UInt8]] {
            let count = calls.withLock { calls in
                calls.append(host)
                return calls.count
            }
            return answers[min(count, answers.count) - 1]
        }

        var asked: [String] { calls.withLock { $0 } }
    }

    static let name = "hooks.rebind.test"
    static let metadata: [UInt8] = [169, 254, 169, 254]

    static func deliveries(_ count: Int, to url: String, secret: String) -> [ClaimedDelivery] {
        (0..<count).map { index in
            let job = DeliveryJob(
                deliveryID: UUID().uuidString.lowercased(), notificationID: "n-\(index)", userID: "u", channel: .webhook, lane: .normal,
                transactional: true, content: MessageContent(subject: "s", text: "t", html: nil))
            return ClaimedDelivery(
                job: job, address: String(decoding: WebhookEndpoint(url: url, secrets: [secret]).stored.bytes, as: UTF8.self),
                attempt: 1)
        }
    }

    static func provider(_ resolver: ChangingResolver, _ transport: HTTPTransport) -> WebhookProvider {
        // Loopback stands for the public address the check passes (the receiver listens there); the link-local
        // cloud-metadata address is what the rebinding answer points at, refused whatever the configuration.
        WebhookProvider(
            policy: EgressPolicy(allowLoopback: true), timeout: .seconds(5), rateLimit: nil, transport: transport,
            resolve: { resolver.resolve($0) }, disabled: { _, _, _ in })
    }

    @Test(
        "first answer checked and connected to for the whole batch (one resolution); the next batch's answer, cloud metadata, refused before connecting"
    )
    func rebindingRefused() async throws {
        let secret = WebhookReceiver.newSecret()
        let receiver = try WebhookReceiver(secret: secret)
        let resolver = ChangingResolver([[[127, 0, 0, 1]], [Self.metadata]])
        let transport = HTTPTransport()
        defer { Task { await transport.shutdown() } }
        let webhooks = Self.provider(resolver, transport)
        let url = "http://\(Self.name):\(receiver.server.port)/hook/ok"

        let first = await webhooks.send(Self.deliveries(3, to: url, secret: secret))
        #expect(first.allSatisfy { if case .sent = $0 { true } else { false } }, "\(first)")
        #expect(resolver.asked == [Self.name], "one resolution for the batch; the HTTP client resolved nothing")
        let received = try await receiver.received()
        #expect(received.count == 3)
        #expect(received.allSatisfy { $0["host"] as? String == "\(Self.name):\(receiver.server.port)" && $0["verified"] as? Bool == true })

        let second = await webhooks.send(Self.deliveries(1, to: url, secret: secret))
        #expect(
            second == [
                .failed(
                    DeliveryFailure(
                        code: "webhook-address-refused", .permanent, detail: "the endpoint's host resolves to link-local (169.254.0.0/16)"))
            ])
        #expect(resolver.asked.count == 2)
        #expect(try await receiver.received().count == 3, "nothing more sent")
    }

    @Test("the transport sends nothing to a host it was given no checked address for, even one the system resolves (localhost)")
    func uncheckedNotSent() async throws {
        let receiver = try WebhookReceiver(secret: WebhookReceiver.newSecret())
        let transport = HTTPTransport()
        defer { Task { await transport.shutdown() } }
        let answers = await transport.execute(
            [
                HTTPTransport.post(
                    "http://localhost:\(receiver.server.port)/hook/ok", headers: [], body: [], orElse: .connection("not a URL"))
            ],
            timeout: .seconds(5), connectingTo: [:])
        guard answers.count == 1, case .failure(let failure) = answers[0] else {
            Issue.record("sent: \(answers)")
            return
        }
        #expect(failure.code == "address-unchecked")
        #expect(try await receiver.received().isEmpty)
    }

    @Test(
        "over TLS, the pinned connection asks for the host's name (SNI) and verifies the certificate against it; the bare address fails TLS"
    )
    func tlsNamesTheHost() async throws {
        let secret = WebhookReceiver.newSecret()
        let receiver = try WebhookReceiver(secret: secret, tlsName: Self.name)
        let tlsPort = try #require(receiver.tlsPort)
        let resolver = ChangingResolver([[[127, 0, 0, 1]]])
        let transport = HTTPTransport(caCertificatePath: receiver.caCertificate)
        defer { Task { await transport.shutdown() } }
        let webhooks = Self.provider(resolver, transport)

        let named = await webhooks.send(Self.deliveries(1, to: "https://\(Self.name):\(tlsPort)/hook/ok", secret: secret))
        #expect(named.allSatisfy { if case .sent = $0 { true } else { false } }, "\(named)")
        #expect(try await receiver.serverNames() == [Self.name])
        #expect(try await receiver.received().map { $0["host"] as? String } == ["\(Self.name):\(tlsPort)"])

        // The certificate names the host alone: connecting by the address, as a client that lost the name would, fails.
        let bare = await webhooks.send(Self.deliveries(1, to: "https://127.0.0.1:\(tlsPort)/hook/ok", secret: secret))
        guard case .failed(let failure) = bare.first else {
            Issue.record("sent without the certificate's name: \(bare)")
            return
        }
        #expect(failure.code == "tls", "\(failure)")
        #expect(try await receiver.received().count == 1)
    }
}
