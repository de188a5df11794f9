import AMQP
import Logging
import NotifyCore
import NotifyStore
import Postgres
import ServiceLifecycle
import Synchronization

/// Answers the commands of the contract (docs/api.md) on `notifications.rpc`, on its own connection and its own database
/// pool: a burst of events never delays a query, and a slow query never delays ingestion.
///
/// The hot path involves no Swift task: the connection thread hands each request to a database connection's
/// thread, which parses it, queries, and posts the reply and the ack back in one step. At most `prefetch`
/// requests are in flight; the broker holds the rest. A request whose `reply_to` is neither direct reply-to nor one
/// of `auth.replyQueuePrefixes` is dropped unanswered (the daemon must not publish into another service's queue).
struct RPCServer: Service {
    let connection: AMQPConnection
    let queries: PGPool
    let queue: String
    let prefetch: Int
    /// The commands, behind this queue and the HTTP API alike.
    let router: CommandRouter
    let readiness: Readiness
    let metrics: DaemonMetrics
    let logger: Logger

    /// The readiness part this service reports.
    static let part = "rpc"

    func run() async throws {
        let inFlight = InFlight()
        let (connection, queries, metrics, logger) = (connection, queries, metrics, logger)
        let router = router
        // Bodies over 16 KiB (batches of sends) are read while those held total at most 8 MiB; past that a request is
        // answered 503 `busy` unread (its body omitted), and the caller sends it again a moment later.
        let limit = AMQPBodyLimit(ordinary: Command.defaultMaxRequestBytes, oversizedBudget: 8 * SendBatch.maxRequestBytes)
        let consumer = try await connection.consume(queue: queue, prefetch: UInt16(prefetch), bodyLimit: limit) { request in
            let command = request.properties.type.flatMap { Command(rawValue: $0) }
            guard let replyTo = request.properties.replyTo, router.authenticator.settings.allowsReply(to: replyTo) else {
                logger.warning(
                    "dropped an RPC request without an allowed reply_to",
                    metadata: [
                        "rpc.type": "\(request.properties.type?.logSafe ?? "-")",
                        "rpc.replyTo": "\(request.properties.replyTo?.logSafe ?? "-")",
                    ])
                metrics.command(command?.rawValue ?? "unknown", status: 0)
                connection.ack(request)
                return
            }
            inFlight.enter()
            queries.submit { database in
                Self.answer(request, command, database, router) { result in
                    defer { inFlight.leave() }
                    let name = command?.rawValue ?? request.properties.type?.logSafe ?? "-"
                    let reply = CommandReply(result, command: name, over: .broker, logger: logger)
                    metrics.command(command?.rawValue ?? "unknown", status: reply.status)
                    var headers: [String: AMQPFieldValue] = [RPCEnvelope.statusHeader: .int(Int64(reply.status))]
                    for (header, value) in reply.headers { headers[header] = .int(Int64(value)) }
                    _ = connection.reply(to: request, body: reply.body.bytes, headers: headers, acknowledging: true)
                }
            }
        }
        readiness.ready(Self.part)
        await withShutdownAction({ try? await connection.cancel(consumer) }) {
            await consumer.finished()
        }
        await inFlight.drained()
    }

    /// Authenticates `request` and runs its command; `reply` gets the outcome, at once or after a send's commit.
    private static func answer(
        _ request: AMQPDelivery, _ command: Command?, _ database: Result<PGConnection, PGError>, _ router: CommandRouter,
        reply: @escaping SendCommitter.Reply
    ) {
        do {
            let db = try database.get()
            let call = try Self.call(request, command, authenticator: router.authenticator, on: db)
            router.run(call, .init(body: request.body), on: db, reply: reply)
        } catch {
            reply(.failure(error))
        }
    }
}

extension RPCServer {
    /// The call `request` makes: its size and command checked, then its caller (`Authenticator`).
    static func call(_ request: AMQPDelivery, _ command: Command?, authenticator: Authenticator, on db: PGConnection) throws -> CommandCall
    {
        guard let command else {
            throw CommandFailure.badRequest(
                "the request 'type' property must be one of \(Command.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let size = request.omittedBodySize ?? request.body.count
        guard size <= command.maxRequestBytes else {
            throw CommandFailure.badRequest(
                "request body: body is \(size) bytes, the limit for \(command.rawValue) is \(command.maxRequestBytes)")
        }
        if request.omittedBodySize != nil {
            // Within its command's limit, but larger requests already held fill the budget for them: a moment later it fits.
            throw CommandFailure.busy("too many large requests at once; send it again shortly")
        }
        var presented: String?
        if case .string(let key)? = request.properties.headers[RPCEnvelope.apiKeyHeader] { presented = key }
        var client = request.properties.appID?.logSafe
        if case .string(let actor)? = request.properties.headers["x-actor"] { client = actor.logSafe }
        return try authenticator.call(
            command, presented: presented, over: .broker, from: .init(requestID: request.properties.messageID?.logSafe, client: client),
            on: db)
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
