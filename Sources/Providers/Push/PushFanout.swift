import AsyncHTTPClient
import NotifyCore

/// What both push providers do with a batch: one request per device token of their platform, all of a round at
/// once; a delivery is sent when one of its devices took it (the others are not tried again, so no device sees
/// it twice), and tokens the provider calls unregistered are handed to `unregistered`, which removes them from
/// the recipient.
struct PushFanout: Sendable {
    let platform: PushToken.Platform
    let transport: HTTPTransport
    let timeout: Duration
    let unregistered: @Sendable (_ job: DeliveryJob, _ tokens: [String]) async -> Void

    /// What one device's answer came to: the provider's id for the message, or why not.
    typealias Answer = Result<String, DeliveryFailure>

    /// - Parameters:
    ///   - request: the request for one delivery to one token (or why it cannot be built).
    ///   - answer: reads one answer.
    func send(
        _ deliveries: [ClaimedDelivery],
        request: (ClaimedDelivery, String) -> Result<HTTPClient.Request, DeliveryFailure>,
        answer: (HTTPTransport.Response) async -> Answer
    ) async -> [DeliveryResult] {
        let tokens = deliveries.map { delivery in
            PushToken.list(json: delivery.address).filter { $0.platform == platform }.map(\.token)
        }
        var planned: [Result<HTTPClient.Request, DeliveryFailure>] = []
        for (delivery, own) in zip(deliveries, tokens) {
            for token in own { planned.append(request(delivery, token)) }
        }
        var answers = await transport.execute(planned, timeout: timeout)[...]
        var results: [DeliveryResult] = []
        results.reserveCapacity(deliveries.count)
        for (delivery, own) in zip(deliveries, tokens) {
            guard !own.isEmpty else {
                results.append(
                    .failed(
                        DeliveryFailure(
                            code: "no-token", .permanent, detail: "the recipient has no \(platform.rawValue) push token")))
                continue
            }
            var sent: String?
            var failures: [DeliveryFailure] = []
            var stale: [String] = []
            for token in own {
                let outcome: Answer =
                    switch answers.popFirst() ?? .failure(.connection("no answer")) {
                    case .success(let response): await answer(response)
                    case .failure(let failure): .failure(failure)
                    }
                switch outcome {
                case .success(let id): sent = sent ?? id
                case .failure(let failure):
                    if failure.unregistersToken { stale.append(token) }
                    failures.append(failure)
                }
            }
            if !stale.isEmpty { await unregistered(delivery.job, stale) }
            if let sent {
                results.append(.sent(providerMessageID: sent))
            } else {
                // Worth another try if any device's failure was; otherwise the first reason.
                results.append(.failed(failures.first { $0.failureClass != .permanent } ?? failures[0]))
            }
        }
        return results
    }
}
