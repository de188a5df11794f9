import Hummingbird
import Logging
import NotifyCore
import NotifyStore
import Postgres
import Providers

/// A provider's receipts route on the listener (`POST /receipts/<provider>`): the provider's `ReceiptSource`
/// checks the signature and reads the body, `ReceiptStore` merges the statuses. Answers: 200 once stored (or for
/// a delivery we do not know, logged: the provider must not retry it forever), 401 for a bad signature or a
/// message refused before its signature is checked (another topic, too old), 400 for
/// a body that cannot be read, 413 past 64 KiB, 503 while the database cannot take it or the signature cannot be
/// checked yet (the provider retries) or while the listener's body budget is spent (`RequestBodies`).
struct ReceiptEndpoint: Sendable {
    let provider: String
    let source: any ReceiptSource
    let database: PGPool
    let bodies: RequestBodies
    let metrics: DaemonMetrics
    let logger: Logger

    static let maxBodyBytes = 64 * 1024

    func handle(_ request: Request, _ context: ListenerContext) async -> Response {
        do {
            return try await bodies.withBody(
                of: request, upTo: Self.maxBodyBytes, for: .anonymous(address: context.clientAddress), context: context
            ) { body in
                await handle(request, body: body)
            }
        } catch {
            metrics.receipts(1, provider: provider, outcome: "rejected")
            let status = (error as? CommandFailure)?.status ?? 400
            var response = Response(status: HTTPResponse.Status(code: status)).closingConnection()
            if let seconds = (error as? CommandFailure)?.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
            return response
        }
    }

    private func handle(_ request: Request, body: [UInt8]) async -> Response {
        let headers = request.headers.map { ($0.name.rawName, $0.value) }
        switch await source.receipts(query: request.uri.query, headers: headers, body: body) {
        case .badSignature:
            metrics.receipts(1, provider: provider, outcome: "rejected")
            logger.warning("receipt with a bad signature refused", metadata: ["provider": "\(provider)"])
            return Response(status: .unauthorized)
        case .refused(let reason):
            metrics.receipts(1, provider: provider, outcome: "rejected")
            logger.warning(
                "receipt refused before its signature was checked", metadata: ["provider": "\(provider)", "reason": "\(reason)"])
            return Response(status: .unauthorized)
        case .malformed(let reason):
            metrics.receipts(1, provider: provider, outcome: "rejected")
            logger.warning("unreadable receipt refused", metadata: ["provider": "\(provider)", "reason": "\(reason)"])
            return Response(status: .badRequest)
        case .unavailable(let reason):
            metrics.receipts(1, provider: provider, outcome: "unavailable")
            logger.error(
                "cannot check a receipt now; the provider will send it again",
                metadata: [
                    "provider": "\(provider)", "reason": "\(reason)",
                ])
            return Response(status: .serviceUnavailable)
        case .receipts(let receipts):
            do {
                let outcomes = try await ReceiptStore.apply(receipts, on: database)
                for (receipt, outcome) in zip(receipts, outcomes) where outcome == .unknown {
                    logger.warning(
                        "receipt for an unknown delivery",
                        metadata: [
                            "provider": "\(provider)", "delivery.id": "\(receipt.deliveryID.logSafe)",
                        ])
                }
                for (outcome, count) in Dictionary(outcomes.map { ("\($0)", 1) }, uniquingKeysWith: +) {
                    metrics.receipts(count, provider: provider, outcome: outcome)
                }
                return Response(status: .ok)
            } catch {
                logger.error("cannot store receipts", metadata: ["provider": "\(provider)", "error": "\(error)"])
                return Response(status: .serviceUnavailable)
            }
        }
    }
}
