import AMQP
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NotifyCore
import Postgres

/// The commands over HTTP (`/v1/...` on the listener): the same `Authenticator` and `RPCRouter` as the RPC queue,
/// on the same query pool, so a command means the same whichever transport carries it. A route names its command;
/// its request is the JSON body with the path's parameters and the query's fields added (a field given twice is
/// 400); the reply is the command's JSON with its status as the HTTP status (`Retry-After` with a 429 or 503).
/// Every command is also at `POST /v1/rpc/<Command>` with exactly its RPC body. `APIRoutes` lists the routes and
/// `OpenAPIDocument` describes them at `/openapi.json`.
struct APIEndpoint: Sendable {
    let router: RPCRouter
    let database: PGPool
    let metrics: DaemonMetrics
    let logger: Logger

    func register(on router: Router<BasicRequestContext>) {
        for route in APIRoutes.all {
            router.on(RouterPath(route.hummingbirdPath), method: route.method) { request, context in
                let parameters = route.parameters.map { (route.field($0), context.parameters.get($0) ?? "") }
                return await handle(request, route: route, command: route.command, pathParameters: parameters)
            }
        }
        let document = OpenAPIDocument.json(categories: self.router.sending.settings.categories)
        router.get("/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: document)))
        }
        router.post("/v1/rpc/:command") { request, context in
            guard let name = context.parameters.get("command"), let command = RPCCommand(rawValue: name) else {
                return Self.json(RPCFailure.notFound("no such command; see /openapi.json").body, status: 404)
            }
            return await handle(request, route: nil, command: command, pathParameters: [])
        }
    }

    /// One call: the body read within the command's limit, the request built, the caller authenticated and the
    /// command run on a database thread (a send then waits for its group commit).
    private func handle(_ request: Request, route: APIRoutes.Route?, command: RPCCommand, pathParameters: [(String, String)]) async -> Response {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: command.maxRequestBytes) else {
            metrics.rpc(command: command.rawValue, status: 413)
            return Self.json(RPCFailure(status: 413, code: "too-large", message: "the body is over \(command.maxRequestBytes) bytes").body,
                             status: 413)
        }
        let fields: [(String, String)] = pathParameters + (route?.fixed ?? [])
            + request.uri.queryParameters.map { (String($0.key), String($0.value)) }
        // A body that cannot be built is refused after the caller is known, as the RPC queue refuses one it cannot read.
        let body = Result { () throws(RPCFailure) in
            try Self.body(Array(buffer.readableBytesView), adding: fields, integers: route?.integers ?? [], limit: command.maxRequestBytes)
        }
        let presented = request.headers[HTTPField.Name("x-api-key")!]
        let client = (request.headers[HTTPField.Name("x-actor")!] ?? request.headers[.userAgent])?.logSafe
        let requestID = request.headers[HTTPField.Name("x-request-id")!]?.logSafe
        let router = router
        let outcome: Result<RPCHandlers.Answer, any Error>
        do {
            let routed = try await database.withConnection { db -> RPCRouter.Routed in
                let call = try router.authenticator.call(
                    command, presented: presented, over: .http, client: client, requestID: requestID, on: db)
                switch body {
                case .success(let built): return try router.route(call, body: built, on: db)
                case .failure(let failure): throw try router.refuse(call, failure, on: db)
                }
            }
            switch routed {
            case .answer(let answer): outcome = .success(answer)
            case .send(let send):
                outcome = await withCheckedContinuation { continuation in
                    router.committer.commit(send) { continuation.resume(returning: $0) }
                }
            }
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
        return response
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
