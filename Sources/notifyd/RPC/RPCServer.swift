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
    let logger: Logger

    /// The readiness part this service reports.
    static let part = "rpc"

    func run() async throws {
        let inFlight = InFlight()
        let (connection, queries, logger) = (connection, queries, logger)
        let limit = AMQPBodyLimit(ordinary: RPCCommand.maxRequestBytes)
        let consumer = try await connection.consume(queue: queue, prefetch: UInt16(prefetch), bodyLimit: limit) { request in
            inFlight.enter()
            queries.submit { database in
                defer { inFlight.leave() }
                let reply = Self.answer(request, database, logger)
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
        do {
            let (status, body, headers) = try answer(request, on: try database.get())
            return (body, headers.merging(["status": .int(Int64(status))]) { $1 })
        } catch let failure as RPCFailure {
            return (failure.body, ["status": .int(Int64(failure.status))])
        } catch {
            logger.error("RPC request failed", metadata: ["rpc.type": "\(request.properties.type?.logSafe ?? "-")", "error": "\(error)"])
            return (RPCFailure.internalError.body, ["status": .int(Int64(RPCFailure.internalError.status))])
        }
    }

    private static func answer(_ request: AMQPDelivery, on db: PGConnection) throws -> (Int, JSONValue, [String: AMQPFieldValue]) {
        if let size = request.omittedBodySize {
            throw RPCFailure.badRequest("request body: body is \(size) bytes, the limit is \(RPCCommand.maxRequestBytes)")
        }
        guard let type = request.properties.type, let command = RPCCommand(rawValue: type) else {
            throw RPCFailure.badRequest(
                "the request 'type' property must be one of \(RPCCommand.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        switch command {
        case .getUserNotifications:
            let query = try GetUserNotifications(body: request.body)
            let page = try NotificationStore.page(query, on: db)
            return (200, InboxReplies.userNotifications(userID: query.userID, page.notifications),
                    ["x-total-count": .int(Int64(page.total)), "x-unread-count": .int(Int64(page.unread))])
        case .getNotificationDetails:
            let query = try GetNotificationDetails(body: request.body)
            guard let notification = try NotificationStore.details(query.notificationID, on: db),
                query.userID == nil || query.userID == notification.userID
            else { throw RPCFailure.notFound("no notification with this notificationId for this user") }
            return (200, InboxReplies.details(notification), [:])
        case .markNotificationRead:
            let command = try MarkNotificationRead(body: request.body)
            guard try NotificationStore.markRead(command.notificationID, userID: command.userID, on: db) else {
                throw RPCFailure.notFound("no notification with this notificationId for this user")
            }
            return (200, InboxReplies.markedRead(command.notificationID), [:])
        case .watchProduct:
            let command = try WatchProduct(body: request.body)
            try WatchStore.watch(productID: command.productID, userID: command.userID, on: db)
            return (200, InboxReplies.watching(userID: command.userID, productID: command.productID), [:])
        case .getStockLevels:
            let query = try GetStockLevels(body: request.body)
            let levels = try StockStore.levels(productID: query.productID, limit: query.limit, on: db)
            return (200, InboxReplies.stockLevels(levels), [:])
        }
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
