import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NotifyCore
import Synchronization

/// The request bodies the listener holds at once, within `http.bodyBudgetBytes` (`BodyBudget`). Every route that
/// reads a body reads it here, once it has decided the caller may send one: the body's declared length (its limit
/// when it comes in chunks) is reserved before any of it is read, and kept until the route has answered; a body
/// over its limit is 413 and one that does not fit the budget 503 with `Retry-After`, both unread.
///
/// A caller with a key draws on the listener's budget, and one tenant (a product with its organisations, whatever
/// keys they mint) holds at most a quarter of it (at least a batch's 1 MiB).
/// A provider's receipt must be read before its sender is known (its signature is in it): receipts draw on a budget of
/// their own, `anonymousBudgetBytes`, at most `anonymousPerAddressBytes` per address, so a stranger's slow bodies can
/// delay receipts, which providers send again, but never a tenant's request. An unsubscribe's 4 KiB is not budgeted.
final class RequestBodies: Sendable {
    /// Who a body is held for.
    enum Caller: Sendable {
        /// A caller with a key: its tenant (`product:<id>`), or the key itself for FlowMart's own.
        case key(String)
        /// A route without a key, by the peer's address (an IPv6 address by its /64, which one host holds whole).
        case anonymous(address: String?)
        /// A route whose bodies are too small to budget (an unsubscribe's 4 KiB: at most `http.maxConnections` of them
        /// at once, 2 MiB by default).
        case unbudgeted
    }

    static let anonymousBudgetBytes = 1024 * 1024
    static let anonymousPerAddressBytes = 256 * 1024

    private let keyed: Mutex<BodyBudget>
    private let anonymous = Mutex(
        BodyBudget(capacity: RequestBodies.anonymousBudgetBytes, perCaller: RequestBodies.anonymousPerAddressBytes))

    init(budgetBytes: Int) {
        keyed = Mutex(BodyBudget(capacity: budgetBytes, perCaller: max(SendBatch.maxRequestBytes, budgetBytes / 4)))
    }

    /// What `request`'s head says its body will cost within `limit`.
    static func plan(_ request: Request, limit: Int) -> BodyPlan {
        BodyPlan(
            contentLength: request.headers[.contentLength].flatMap { Int($0) }, chunked: request.headers[.transferEncoding] != nil,
            limit: limit)
    }

    /// Runs `use` with `request`'s body of at most `limit` bytes (nothing read when there is none), holding its share
    /// of the budget until `use` returns. Refusals are `CommandFailure`s: 413 past the limit, 503 when the budget is
    /// spent, 400 when the connection ended before the body was whole (its read timeout, say).
    func withBody<Value>(
        of request: Request, upTo limit: Int, for caller: Caller, context: ListenerContext, _ use: ([UInt8]) async throws -> Value
    ) async throws -> Value {
        let bytes: Int
        switch Self.plan(request, limit: limit) {
        case .none: return try await use([])
        case .tooLarge: throw Self.tooLarge(limit)
        case .reserve(let reserved): bytes = reserved
        }
        guard change(caller, { $0.reserve(bytes, for: $1) }) else {
            throw CommandFailure.busy("too many request bodies are being read at once; send it again shortly")
        }
        defer {
            change(caller) {
                $0.release(bytes, for: $1)
                return true
            }
        }
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

    /// Applies `body` to the budget `caller` draws on, with the holder's name in it.
    @discardableResult
    private func change(_ caller: Caller, _ body: (inout BodyBudget, String) -> Bool) -> Bool {
        switch caller {
        case .key(let holder): keyed.withLock { body(&$0, holder) }
        case .anonymous(let address): anonymous.withLock { body(&$0, Self.network(of: address)) }
        case .unbudgeted: true
        }
    }

    /// Who an address stands for: an IPv4 address itself, an IPv6 address its /64 (a host is given at least that).
    static func network(of address: String?) -> String {
        guard let address else { return "-" }
        guard address.contains(":") else { return address }
        var bytes = in6_addr()
        guard inet_pton(AF_INET6, address, &bytes) == 1 else { return address }
        return withUnsafeBytes(of: &bytes) { raw in
            // An IPv4 client of a dual-stack listener (::ffff:a.b.c.d) is its IPv4 address.
            if raw.prefix(10).allSatisfy({ $0 == 0 }), raw[10] == 0xff, raw[11] == 0xff {
                return raw.suffix(4).map { String($0) }.joined(separator: ".")
            }
            return raw.prefix(8).map { String(format: "%02x", $0) }.joined() + "::/64"
        }
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
