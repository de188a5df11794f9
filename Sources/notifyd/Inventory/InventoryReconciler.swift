import AMQP
import Foundation
import Logging
import NotifyCore
import NotifyStore
import Postgres
import ServiceLifecycle

/// Cross-checks with the inventory service, so that a lost InventoryAdjusted cannot hide a stock-out: every
/// `interval` it pages through `GetInventoryList {filters: {inStock: false}}` and raises, through the same outbox
/// path as ingestion, every stock-out this service has no record of. A round that gets no reply in time is logged
/// and retried at the next round; nothing else is affected.
struct InventoryReconciler: Service {
    let client: AMQPRPCClient
    let store: IngestionStore
    let planner: IngestionPlanner
    let queue: String
    let interval: Duration
    let pageSize: Int
    let timeout: Duration
    let logger: Logger

    /// Pages read per round at most, so a misbehaving responder cannot keep a round going forever.
    static let maxPages = 1000

    func run() async throws {
        while !Task.isCancelledOrShuttingDown {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelledOrShuttingDown else { return }
            do {
                let raised = try await reconcileOnce()
                logger.info("inventory reconciliation round done", metadata: ["inventory.raised": "\(raised)"])
            } catch let error as AMQPError where error.code == .timeout {
                logger.warning(
                    "the inventory service did not answer GetInventoryList; trying again next round",
                    metadata: ["inventory.queue": "\(queue)"])
            } catch {
                logger.warning("inventory reconciliation round failed; trying again next round", metadata: ["error": "\(error)"])
            }
        }
    }

    /// One round; returns how many stock-outs it raised.
    func reconcileOnce() async throws -> Int {
        let round = "reconciliation-\(UUID().uuidString.lowercased())"
        var raised = 0
        var page = 1
        while page <= Self.maxPages {
            let reply = try await client.call(
                queue: queue, type: RemoteRPCCommand.getInventoryList.rawValue,
                body: InventoryList.outOfStockRequest(page: page, pageSize: pageSize).bytes, timeout: timeout)
            let result: InventoryList.Page
            do {
                let body = try RPCEnvelope.body(status: reply.properties.headers[RPCEnvelope.statusHeader]?.integer, body: reply.body)
                result = try InventoryList.Page(body: body)
            } catch let failure as CommandFailure {
                throw ReconciliationError(reason: "GetInventoryList answered with status \(failure.status): \(failure.message.logSafe)")
            } catch let rejection as Rejection {
                throw ReconciliationError(reason: "GetInventoryList reply is not usable: \(rejection.detail)")
            }
            let planner = planner
            raised += try await store.reconcile(result.items.filter { $0.quantity <= 0 }) { item, known in
                planner.reconcile(item, known: known, round: round, now: Date())
            }
            guard result.hasMore else { break }
            page += 1
        }
        return raised
    }
}

struct ReconciliationError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
