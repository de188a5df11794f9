import HTTPTypes
import Hummingbird
import Logging
import NotifyCore
import NotifyStore
import Postgres

/// The commands over HTTP (`/v1/...` on the listener): the same `Authenticator` and `CommandRouter` as the RPC queue,
/// on the same query pool, so a command means the same whichever transport carries it. A route names its command;
/// its request is the JSON body with the path's parameters and the query's fields added (a field given twice is
/// 400); the reply is the command's JSON with its status as the HTTP status (`Retry-After` with a 429 or 503).
/// Every command is also at `POST /v1/rpc/<Command>` with exactly its RPC body. `APIRoutes` lists the routes and
/// `OpenAPIDocument` describes them at `/openapi.json`.
///
/// A stranger costs little: the key is checked before the body is read (none, or a malformed one, without touching
/// the database; a well-formed one with one indexed read), the body is read only within the listener's budget
/// (`RequestBodies`), and a request waits for a query connection only while few others do (`http.databaseQueueLimit`).
struct APIEndpoint: Sendable {
    let router: CommandRouter
    let database: PGPool
    let bodies: RequestBodies
    /// Requests that may wait for a query connection; past it, 503 with `Retry-After`.
    let databaseQueueLimit: Int
    let metrics: DaemonMetrics
    let logger: Logger

    func register(on router: Router<ListenerContext>) {
        for route in APIRoutes.all {
            router.on(RouterPath(route.hummingbirdPath), method: route.method) { request, context in
                let parameters = route.parameters.map { (route.field($0), context.parameters.get($0) ?? "") }
                return await handle(request, context, route: route, command: route.command, pathParameters: parameters)
            }
        }
        let document = OpenAPIDocument.json(categories: self.router.sending.settings.categories)
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: document)))
        }
        router.post("/v1/rpc/:command") { request, context in
            guard let name = context.parameters.get("command"), let command = Command(rawValue: name) else {
                return Self.json(CommandFailure.notFound("no such command; see /openapi.json").body, status: 404)
                    .closingConnection(if: RequestBodies.plan(request, limit: 0).hasBody)
            }
            return await handle(request, context, route: nil, command: command, pathParameters: [])
        }
    }

    /// One call: the caller authenticated, the body read within the command's limit and the budget, the request
    /// built and the command run on a database thread (a send then waits for its group commit). A reply sent before
    /// the body was read closes the connection (`RequestGate`).
    private func handle(
        _ request: Request, _ context: ListenerContext, route: APIRoutes.Route?, command: Command,
        pathParameters: [(String, String)]
    ) async -> Response {
        let origin = Authenticator.Origin(
            requestID: request.headers[HTTPField.Name("x-request-id")!]?.logSafe,
            client: (request.headers[HTTPField.Name("x-actor")!] ?? request.headers[.userAgent])?.logSafe, address: context.clientAddress)
        let fields: [(String, String)] =
            pathParameters + (route?.fixed ?? [])
            + request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        var bodyRead = !RequestBodies.plan(request, limit: command.maxRequestBytes).hasBody
        let outcome: Result<CommandHandlers.Answer, any Error>
        do {
            let call = try await authenticate(command, presented: request.headers[HTTPField.Name("x-api-key")!], from: origin)
            outcome = .success(
                try await bodies.withBody(
                    of: request, upTo: command.maxRequestBytes,
                    for: .key(call.principal.tenant.map { "product:\($0.productID)" } ?? call.principal.actor), context: context
                ) { bytes in
                    bodyRead = true
                    return try await run(
                        call, CommandRouter.Request(body: bytes, carrier: .route(fields: fields, integers: route?.integers ?? [])))
                })
        } catch {
            outcome = .failure(error)
        }
        let reply = CommandReply(outcome, command: command.rawValue, over: .http, logger: logger)
        metrics.command(command.rawValue, status: reply.status)
        var response = Self.json(reply.body, status: reply.status)
        for (name, value) in reply.headers {
            // HTTP spells it `Retry-After` (names are case-insensitive, but clients print them).
            let field = name == "retry-after" ? .retryAfter : HTTPField.Name(name)
            if let field { response.headers[field] = String(value) }
        }
        return response.closingConnection(if: !bodyRead)
    }

    /// The call `presented` makes of `command`, decided before the body is read: a missing or malformed key without
    /// I/O, a well-formed one after reading its record.
    private func authenticate(_ command: Command, presented: String?, from origin: Authenticator.Origin) async throws -> CommandCall {
        let authenticator = router.authenticator
        let claim = try authenticator.claim(presented, command: command, over: .http, from: origin)
        var record: KeyRecord?
        if case .key(let key) = claim {
            record = try await query { try TenantStore.keyRecord(key.id, on: $0) }
        }
        return try authenticator.call(command, claim, record: record, from: origin)
    }

    /// Runs the command on a query connection; a send then waits for its group commit.
    private func run(_ call: CommandCall, _ request: CommandRouter.Request) async throws -> CommandHandlers.Answer {
        let router = router
        // Read first: a body that cannot be read is refused without taking a database connection.
        let input = try router.input(call, request)
        switch try await query({ try router.route(call, input, on: $0) }) {
        case .answer(let answer): return answer
        case .send(let send):
            return try await withCheckedContinuation { continuation in
                router.committer.commit(send) { continuation.resume(returning: $0) }
            }.get()
        }
    }

    /// `body` on a query connection, waiting for one only while fewer than `databaseQueueLimit` requests do.
    private func query<Value: Sendable>(_ body: @escaping @Sendable (PGConnection) throws -> Value) async throws -> Value {
        do {
            return try await database.withConnection(queueingAtMost: databaseQueueLimit, body)
        } catch let error as PGError where error.code == .busy {
            throw CommandFailure.busy("every database connection is busy and too many requests wait for one; send it again shortly")
        }
    }

    static func json(_ body: JSONValue, status: Int) -> Response {
        Response(
            status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body.bytes)))
    }
}
