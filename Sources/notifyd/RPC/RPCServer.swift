import AMQP
import Logging
import NotifyCore
import NotifyStore
import Postgres
import ServiceLifecycle
import Synchronization

/// Answers the inbox queries of `CONTRACT.md` on `notifications.rpc`, on its own connection and its own database
/// pool: a burst of events never delays a query, and a slow query never delays ingestion.
///
/// The hot path involves no Swift task: the connection thread hands each request to a database connection's
/// thread, which parses it, queries, and posts the reply and the ack back in one step. At most `prefetch`
/// requests are in flight; the broker holds the rest.
struct RPCServer: Service {
    let connection: AMQPConnection
    let queries: PGPool
    let queue: String
    let prefetch: Int
    let readiness: Readiness
    let metrics: DaemonMetrics
    let logger: Logger

    /// The readiness part this service reports.
    static let part = "rpc"

    func run() async throws {
        let inFlight = InFlight()
        let (connection, queries, metrics, logger) = (connection, queries, metrics, logger)
        let limit = AMQPBodyLimit(ordinary: RPCEnvelope.maxRequestBytes)
        let consumer = try await connection.consume(queue: queue, prefetch: UInt16(prefetch), bodyLimit: limit) { request in
            inFlight.enter()
            queries.submit { database in
                defer { inFlight.leave() }
                let reply = Self.answer(request, database, logger)
                if case .int(let status)? = reply.headers[RPCEnvelope.statusHeader] {
                    let type = request.properties.type
                    metrics.rpc(command: type.flatMap { RPCCommand(rawValue: $0) }?.rawValue ?? "unknown", status: Int(status))
                }
                if !connection.reply(to: request, body: reply.body.bytes, headers: reply.headers, acknowledging: true) {
                    logger.warning("dropped an RPC request without reply_to", metadata: ["rpc.type": "\(request.properties.type?.logSafe ?? "-")"])
                }
            }
        }
        readiness.ready(Self.part)
        await withShutdownAction({ try? await connection.cancel(consumer) }) {
            await consumer.finished()
        }
        await inFlight.drained()
    }

    private static func answer(
        _ request: AMQPDelivery, _ database: Result<PGConnection, PGError>, _ logger: Logger
    ) -> (body: JSONValue, headers: [String: AMQPFieldValue]) {
        let status = RPCEnvelope.statusHeader
        do {
            let answer = try route(request, on: try database.get(), logger: logger)
            return (answer.body, answer.headers.merging([status: .int(200)]) { $1 })
        } catch let failure as RPCFailure {
            return (failure.body, [status: .int(Int64(failure.status))])
        } catch {
            logger.error("RPC request failed", metadata: ["rpc.type": "\(request.properties.type?.logSafe ?? "-")", "error": "\(error)"])
            return (RPCFailure.internalError.body, [status: .int(Int64(RPCFailure.internalError.status))])
        }
    }

    /// Picks the handler for the request's `type`.
    private static func route(_ request: AMQPDelivery, on db: PGConnection, logger: Logger) throws -> RPCHandlers.Answer {
        if let size = request.omittedBodySize {
            throw RPCFailure.badRequest("request body: body is \(size) bytes, the limit is \(RPCEnvelope.maxRequestBytes)")
        }
        guard let type = request.properties.type, let command = RPCCommand(rawValue: type) else {
            throw RPCFailure.badRequest(
                "the request 'type' property must be one of \(RPCCommand.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        switch command {
        case .getUserNotifications: return try RPCHandlers.userNotifications(try GetUserNotifications(body: request.body), on: db)
        case .getNotificationDetails: return try RPCHandlers.details(try GetNotificationDetails(body: request.body), on: db)
        case .markNotificationRead: return try RPCHandlers.markRead(try MarkNotificationRead(body: request.body), on: db)
        case .watchProduct: return try RPCHandlers.watch(try WatchProduct(body: request.body), on: db)
        case .getStockLevels: return try RPCHandlers.stockLevels(try GetStockLevels(body: request.body), on: db)
        case .upsertRecipient: return try RPCHandlers.upsertRecipient(try UpsertRecipient(body: request.body), on: db)
        case .getRecipient: return try RPCHandlers.recipient(try GetRecipient(body: request.body), on: db)
        case .deleteRecipient: return try RPCHandlers.deleteRecipient(try DeleteRecipient(body: request.body), on: db)
        case .getDeliveryStatus: return try RPCHandlers.deliveryStatus(try GetDeliveryStatus(body: request.body), on: db)
        case .listDeliveries: return try RPCHandlers.listDeliveries(try ListDeliveries(body: request.body), on: db)
        case .listParked: return try RPCHandlers.listParked(try ListParked(body: request.body), on: db)
        case .redriveParked:
            return try RPCHandlers.redriveParked(try RedriveParked(body: request.body), actor: actor(of: request), on: db, logger: logger)
        case .purgeParked:
            return try RPCHandlers.purgeParked(try PurgeParked(body: request.body), actor: actor(of: request), on: db, logger: logger)
        }
    }

    /// Who sent a request, for the log of operations that change things: the `x-actor` header (notifyctl sends
    /// the user running it), else the `app_id` property.
    private static func actor(of request: AMQPDelivery) -> String {
        if case .string(let actor)? = request.properties.headers["x-actor"] { return actor.logSafe }
        return request.properties.appID?.logSafe ?? "unknown"
    }
}

/// Counts requests handed to database threads, so shutdown can wait until every one was answered.
private final class InFlight: Sendable {
    private let state = Mutex<(count: Int, waiters: [CheckedContinuation<Void, Never>])>((0, []))

    func enter() { state.withLock { $0.count += 1 } }

    func leave() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.count -= 1
            guard state.count == 0 else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func drained() async {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state in
                if state.count > 0 { state.waiters.append(continuation) }
                return state.count == 0
            }
            if idle { continuation.resume() }
        }
    }
}
