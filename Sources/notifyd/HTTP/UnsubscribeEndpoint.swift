import Foundation
import Hummingbird
import Logging
import NotifyCore
import NotifyStore
import Postgres
import Synchronization

/// One-click unsubscribe (`/unsubscribe?token=…`, the target of `List-Unsubscribe`): the token, signed by this
/// service (`UnsubscribeSigner`), names the user, the channel and the category. A `POST` (RFC 8058's one-click, which
/// mail clients send with `List-Unsubscribe=One-Click`, or the page's button) adds the opt-out, audited as
/// `preferences.changed` by `unsubscribe-link`; a `GET` only shows a page with that button, because mail scanners
/// fetch links and must not unsubscribe anyone. A token nobody signed is 400; the database unavailable, or more
/// writing at once than half the query pool, 503.
struct UnsubscribeEndpoint: Sendable {
    static let path = "/unsubscribe"
    let signer: UnsubscribeSigner
    let database: PGPool
    let bodies: RequestBodies
    let logger: Logger
    /// Unsubscribes writing at once: anyone holding a link may post it as often as they like, and each holds a query
    /// connection while it writes (and waits on the user's lock), so they get at most half the query pool.
    let inFlight: InFlightLimit

    init(signer: UnsubscribeSigner, database: PGPool, bodies: RequestBodies, logger: Logger) {
        self.signer = signer
        self.database = database
        self.bodies = bodies
        self.logger = logger
        inFlight = InFlightLimit(limit: max(1, database.size / 2))
    }

    func page(_ request: Request) -> Response {
        guard let token = token(request) else { return Self.html(.badRequest, "This unsubscribe link is not valid.") }
        let what = token.category == OptOut.everyCategory ? "these emails" : "\(Self.readable(token.category).htmlEscaped) emails"
        return Self.html(
            .ok,
            """
            Stop receiving \(what)?</p><form method="post"><button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form><p>
            """)
    }

    func unsubscribe(_ request: Request, _ context: ListenerContext) async -> Response {
        guard let token = token(request) else {
            logger.notice("unsubscribe with a token this service did not sign refused")
            return Self.html(.badRequest, "This unsubscribe link is not valid.").closingConnection(
                if: RequestBodies.plan(request, limit: 0).hasBody)
        }
        do {
            // `List-Unsubscribe=One-Click`: nothing in it is needed, but it is read (4 KiB at most, one per connection),
            // so the connection can carry another request.
            try await bodies.withBody(of: request, upTo: 4096, for: .unbudgeted, context: context) { _ in }
        } catch {
            return Self.html(.badRequest, "This request could not be read.").closingConnection()
        }
        // Counted once the body is in: a client trickling its body holds a connection, not one of the four.
        guard inFlight.enter() else {
            var busy = Self.html(.serviceUnavailable, "Too many requests at once. Please try again in a moment.")
            busy.headers[.retryAfter] = "1"
            return busy
        }
        defer { inFlight.leave() }
        let audit = AuditEntry(
            actor: "unsubscribe-link", tenant: token.tenant, entity: "recipient:\(token.userID)", action: "preferences.changed",
            detail: "opted out of \(token.channel.rawValue) for \(token.category) by a one-click link")
        do {
            _ = try await database.withConnection { db in
                try RecipientStore.addOptOut(token.optOut, userID: token.userID, in: token.tenant.namespace, audit: audit, on: db)
            }
        } catch {
            logger.error("cannot record an unsubscribe", metadata: ["error": "\(error)"])
            return Self.html(.serviceUnavailable, "Your request could not be saved just now. Please try again in a minute.")
        }
        return Self.html(.ok, "You are unsubscribed. You will not receive these emails any more.")
    }

    private func token(_ request: Request) -> UnsubscribeToken? {
        request.uri.queryParameters.get("token").flatMap { signer.verify(String($0)) }
    }

    private static func html(_ status: HTTPResponse.Status, _ message: String) -> Response {
        let body = """
            <!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">\
            <title>Unsubscribe</title></head><body><p>\(message)</p></body></html>
            """
        return Response(
            status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// `PROMOTIONAL_OFFER` as "promotional offer".
    private static func readable(_ category: String) -> String { category.lowercased().replacingOccurrences(of: "_", with: " ") }
}

/// At most `limit` at once; past it, `enter` is false at once.
final class InFlightLimit: Sendable {
    private let count = Mutex(0)
    let limit: Int

    init(limit: Int) { self.limit = limit }

    func enter() -> Bool {
        count.withLock { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    func leave() { count.withLock { $0 -= 1 } }
}
