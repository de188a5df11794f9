import HTTPTypes
import Hummingbird
import NIOCore
import NotifyCore
import Synchronization

/// The request bodies the listener holds at once, within `http.bodyBudgetBytes` (`BodyBudget`). Every route that
/// reads a body reads it here, once it has decided the caller may send one: the body's declared length (its limit
/// when it comes in chunks) is reserved before any of it is read, and kept until the route has answered; a body
/// over its limit is 413 and one that does not fit the budget 503 with `Retry-After`, both unread.
final class RequestBodies: Sendable {
    private let budget: Mutex<BodyBudget>

    init(budgetBytes: Int) {
        budget = Mutex(BodyBudget(capacity: budgetBytes))
    }

    /// What `request`'s head says its body will cost within `limit`.
    static func plan(_ request: Request, limit: Int) -> BodyPlan {
        BodyPlan(contentLength: request.headers[.contentLength].flatMap { Int($0) }, chunked: request.headers[.transferEncoding] != nil,
                 limit: limit)
    }

    /// Runs `use` with `request`'s body of at most `limit` bytes (nothing read when there is none), holding its share
    /// of the budget until `use` returns. Refusals are `CommandFailure`s: 413 past the limit, 503 when the budget is
    /// spent, 400 when the connection ended before the body was whole (its read timeout, say).
    func withBody<Value>(
        of request: Request, upTo limit: Int, context: ListenerContext, _ use: ([UInt8]) async throws -> Value
    ) async throws -> Value {
        let bytes: Int
        switch Self.plan(request, limit: limit) {
        case .none: return try await use([])
        case .tooLarge: throw Self.tooLarge(limit)
        case .reserve(let reserved): bytes = reserved
        }
        guard budget.withLock({ $0.reserve(bytes) }) else {
            throw CommandFailure.busy("too many request bodies are being read at once; send it again shortly")
        }
        defer { budget.withLock { $0.release(bytes) } }
        context.channel.triggerUserOutboundEvent(RequestGate.Release(), promise: nil)
        var request = request
        let body: ByteBuffer
        do {
            body = try await request.collectBody(upTo: bytes)
        } catch is NIOTooManyBytesError {
            throw Self.tooLarge(limit)
        } catch {
            throw CommandFailure.badRequest("request body: the connection ended before the body arrived whole")
        }
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared != body.readableBytes {
            throw CommandFailure.badRequest("request body: the connection ended before the body arrived whole")
        }
        return try await use(Array(body.readableBytesView))
    }

    private static func tooLarge(_ limit: Int) -> CommandFailure {
        CommandFailure(status: 413, code: "too-large", message: "the body is over \(limit) bytes")
    }
}

extension Response {
    /// This response with `Connection: close` when `close`: what the listener answers before reading a body that is on
    /// its way, so that `RequestGate` closes the connection instead of letting the rest of the body be read.
    func closingConnection(if close: Bool = true) -> Response {
        guard close else { return self }
        var response = self
        response.headers[.connection] = "close"
        return response
    }
}
