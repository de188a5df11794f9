import AMQP
import Logging
import NotifyCore
import ServiceLifecycle

/// Answers the inbox queries of `CONTRACT.md` on `notifications.rpc`, on its own connection and its own database
/// pool: a burst of events never delays a query, and a slow query never delays ingestion.
struct RPCServer: Service {
    let connection: AMQPConnection
    let store: NotificationStore
    let queue: String
    let prefetch: Int
    /// Requests answered at once; the rest wait in the prefetch window.
    let concurrency: Int
    let logger: Logger

    func run() async throws {
        let requests = try await connection.consume(queue: queue, prefetch: UInt16(prefetch))
        let connection = connection
        await withShutdownAction({ try? await connection.cancel(requests) }) {
            await withTaskGroup(of: Void.self) { group in
                var inFlight = 0
                for await request in requests {
                    if inFlight >= concurrency {
                        await group.next()
                        inFlight -= 1
                    }
                    group.addTask { await handle(request) }
                    inFlight += 1
                }
            }
        }
    }

    private func handle(_ request: AMQPDelivery) async {
        defer { connection.ack(request) }
        guard request.properties.replyTo?.isEmpty == false else {
            logger.warning("dropping an RPC request without reply_to",
                           metadata: ["rpc.type": "\(request.properties.type ?? "-")"])
            return
        }
        let reply: (status: Int, body: JSONValue, headers: [String: AMQPFieldValue])
        do {
            reply = try await answer(request)
        } catch let failure as RPCFailure {
            reply = (failure.status, failure.body, [:])
        } catch {
            logger.error("RPC request failed", metadata: ["rpc.type": "\(request.properties.type ?? "-")", "error": "\(error)"])
            reply = (RPCFailure.internalError.status, RPCFailure.internalError.body, [:])
        }
        var headers = reply.headers
        headers["status"] = .int(Int64(reply.status))
        connection.reply(to: request, body: reply.body.bytes, headers: headers)
    }

    private func answer(_ request: AMQPDelivery) async throws -> (Int, JSONValue, [String: AMQPFieldValue]) {
        guard let type = request.properties.type, let command = InboxCommand(rawValue: type) else {
            throw RPCFailure.badRequest(
                "the request 'type' property must be one of \(InboxCommand.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        switch command {
        case .getUserNotifications:
            let query = try GetUserNotifications(body: request.body)
            let page = try await store.page(query)
            return (200, InboxReplies.userNotifications(userID: query.userID, page.notifications),
                    ["x-total-count": .int(Int64(page.total)), "x-unread-count": .int(Int64(page.unread))])
        case .getNotificationDetails:
            let query = try GetNotificationDetails(body: request.body)
            guard let notification = try await store.details(query.notificationID),
                query.userID == nil || query.userID == notification.userID
            else { throw RPCFailure.notFound("no notification with this notificationId for this user") }
            return (200, InboxReplies.details(notification), [:])
        case .markNotificationRead:
            let command = try MarkNotificationRead(body: request.body)
            guard try await store.markRead(command.notificationID, userID: command.userID) else {
                throw RPCFailure.notFound("no notification with this notificationId for this user")
            }
            return (200, InboxReplies.markedRead(command.notificationID), [:])
        }
    }
}
