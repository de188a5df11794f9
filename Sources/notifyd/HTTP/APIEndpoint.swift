import AMQP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NotifyCore
import NotifyStore
import Postgres

/// The commands over HTTP (`/v1/...` on the listener): the same `Authenticator` and `RPCRouter` as the RPC queue,
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
    let router: RPCRouter
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
            guard let name = context.parameters.get("command"), let command = RPCCommand(rawValue: name) else {
                return Self.json(RPCFailure.notFound("no such command; see /openapi.json").body, status: 404)
                    .closingConnection(if: RequestBodies.plan(request, limit: 0).hasBody)
            }
            return await handle(request, context, route: nil, command: command, pathParameters: [])
        }
    }

    /// One call: the caller authenticated, the body read within the command's limit and the budget, the request
    /// built and the command run on a database thread (a send then waits for its group commit). A reply sent before
    /// the body was read closes the connection (`RequestGate`).
    private func handle(_ request: Request, _ context: ListenerContext, route: APIRoutes.Route?, command: RPCCommand,
                        pathParameters: [(String, String)]) async -> Response {
        let origin = Authenticator.Origin(
            requestID: request.headers[HTTPField.Name("x-request-id")!]?.logSafe,
            client: (request.headers[HTTPField.Name("x-actor")!] ?? request.headers[.userAgent])?.logSafe, address: context.clientAddress)
        let fields: [(String, String)] = pathParameters + (route?.fixed ?? [])
            + request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        var bodyRead = !RequestBodies.plan(request, limit: command.maxRequestBytes).hasBody
        let outcome: Result<RPCHandlers.Answer, any Error>
        do {
            let call = try await authenticate(command, presented: request.headers[HTTPField.Name("x-api-key")!], from: origin)
            outcome = .success(try await bodies.withBody(of: request, upTo: command.maxRequestBytes, for: .key(call.principal.tenant.map { "product:\($0.productID)" } ?? call.principal.actor), context: context) { bytes in
                bodyRead = true
                return try await run(call, body: bytes, fields: fields, integers: route?.integers ?? [])
            })
        } catch {
            outcome = .failure(error)
        }
        let reply: (body: JSONValue, status: Int, headers: [(String, String)])
        switch outcome {
        case .success(let answer):
            reply = (answer.body, answer.status, answer.headers.compactMap { name, value in value.headerText.map { (name, $0) } })
        case .failure(let failure as RPCFailure):
            reply = (failure.body, failure.status, failure.retryAfterSeconds.map { [("Retry-After", String($0))] } ?? [])
        case .failure(let error):
            logger.error("HTTP request failed", metadata: ["rpc.type": "\(command.rawValue)", "error": "\(error)"])
            reply = (RPCFailure.internalError.body, RPCFailure.internalError.status, [])
        }
        metrics.rpc(command: command.rawValue, status: reply.status)
        var response = Self.json(reply.body, status: reply.status)
        for (name, value) in reply.headers {
            if let field = HTTPField.Name(name) { response.headers[field] = value }
        }
        return response.closingConnection(if: !bodyRead)
    }

    /// The call `presented` makes of `command`, decided before the body is read: a missing or malformed key without
    /// I/O, a well-formed one after reading its record.
    private func authenticate(_ command: RPCCommand, presented: String?, from origin: Authenticator.Origin) async throws -> RPCCall {
        let authenticator = router.authenticator
        let claim = try authenticator.claim(presented, command: command, over: .http, from: origin)
        var record: KeyRecord?
        if case .key(let key) = claim {
            record = try await query { try TenantStore.keyRecord(key.id, on: $0) }
        }
        return try authenticator.call(command, claim, record: record, from: origin)
    }

    /// Builds the command's request from the body and `fields` and runs it on a query connection; a send then waits
    /// for its group commit.
    private func run(_ call: RPCCall, body bytes: [UInt8], fields: [(String, String)], integers: Set<String>) async throws -> RPCHandlers.Answer {
        let router = router
        let body: [UInt8]
        do {
            body = try Self.body(bytes, adding: fields, integers: integers, limit: call.command.maxRequestBytes)
        } catch {
            // A body that cannot be built is refused as the RPC queue refuses one it cannot read.
            throw router.refuse(call, error)
        }
        switch try await query({ try router.route(call, body: body, on: $0) }) {
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
            throw RPCFailure.busy("every database connection is busy and too many requests wait for one; send it again shortly")
        }
    }

    /// The command's JSON body: the request's own (an object, or nothing) with `fields` added, those named in
    /// `integers` as numbers. Read with the RPC bodies' limits (size, depth), so nothing the queue would refuse
    /// gets further here.
    static func body(_ bytes: [UInt8], adding fields: [(String, String)], integers: Set<String>, limit: Int) throws(RPCFailure) -> [UInt8] {
        guard !fields.isEmpty else { return bytes.isEmpty ? Array("{}".utf8) : bytes }
        var object: [String: Any] = [:]
        if !bytes.isEmpty {
            var input = JSONInput()
            input.maxBytes = limit
            input.maxDepth = 8
            do {
                object = try input.object(from: bytes)
            } catch {
                throw .badRequest("request body: \(error.detail)")
            }
        }
        for (name, value) in fields {
            guard object[name] == nil else { throw .badRequest("field '\(name)' is given twice (in the path or query, and the body)") }
            if integers.contains(name) {
                guard let number = Int(value) else { throw .badRequest("query field '\(name)' must be a whole number") }
                object[name] = number
            } else {
                object[name] = value
            }
        }
        guard let data = try? JSONSerialization.data(withJSONObject: object) else { throw .badRequest("request body: not JSON") }
        return Array(data)
    }

    static func json(_ body: JSONValue, status: Int) -> Response {
        Response(
            status: HTTPResponse.Status(code: status), headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body.bytes)))
    }
}

extension AMQPFieldValue {
    /// The value as an HTTP header's text (the RPC replies' headers are counts and ids).
    var headerText: String? {
        switch self {
        case .string(let text): text
        case .int(let number): String(number)
        case .bool(let flag): String(flag)
        default: nil
        }
    }
}
