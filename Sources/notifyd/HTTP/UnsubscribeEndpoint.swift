import Foundation
import Hummingbird
import Logging
import NotifyCore
import NotifyStore
import Postgres

/// One-click unsubscribe (`/unsubscribe?token=…`, the target of `List-Unsubscribe`): the token, signed by this
/// service (`UnsubscribeSigner`), names the user, the channel and the category. A `POST` (RFC 8058's one-click, which
/// mail clients send with `List-Unsubscribe=One-Click`, or the page's button) adds the opt-out, audited as
/// `preferences.changed` by `unsubscribe-link`; a `GET` only shows a page with that button, because mail scanners
/// fetch links and must not unsubscribe anyone. A token nobody signed is 400; the database unavailable, or too many
/// requests at once (the body budget, the query pool's queue), 503.
struct UnsubscribeEndpoint: Sendable {
    static let path = "/unsubscribe"
    let signer: UnsubscribeSigner
    let database: PGPool
    let bodies: RequestBodies
    /// Requests that may wait for a query connection (`http.databaseQueueLimit`, shared with the API's).
    let databaseQueueLimit: Int
    let logger: Logger

    func page(_ request: Request) -> Response {
        guard let token = token(request) else { return Self.html(.badRequest, "This unsubscribe link is not valid.") }
        let what = token.category == OptOut.everyCategory ? "these emails" : "\(Self.readable(token.category).htmlEscaped) emails"
        return Self.html(.ok, """
            Stop receiving \(what)?</p><form method="post"><button type="submit" name="List-Unsubscribe" value="One-Click">Unsubscribe</button></form><p>
            """)
    }

    func unsubscribe(_ request: Request, _ context: ListenerContext) async -> Response {
        guard let token = token(request) else {
            logger.notice("unsubscribe with a token this service did not sign refused")
            return Self.html(.badRequest, "This unsubscribe link is not valid.").closingConnection(if: RequestBodies.plan(request, limit: 0).hasBody)
        }
        do {
            // `List-Unsubscribe=One-Click`: nothing in it is needed, but it is read (within the budget), so the
            // connection can carry another request.
            try await bodies.withBody(of: request, upTo: 4096, for: .anonymous(address: context.clientAddress), context: context) { _ in }
        } catch let failure as CommandFailure where failure.status == 503 {
            var busy = Self.html(.serviceUnavailable, "Too many requests at once. Please try again in a moment.").closingConnection()
            busy.headers[.retryAfter] = failure.retryAfterSeconds.map(String.init)
            return busy
        } catch {
            return Self.html(.badRequest, "This request could not be read.").closingConnection()
        }
        let audit = AuditEntry(actor: "unsubscribe-link", tenant: token.tenant, entity: "recipient:\(token.userID)", action: "preferences.changed",
                               detail: "opted out of \(token.channel.rawValue) for \(token.category) by a one-click link")
        do {
            // Anyone holding a link may post it as often as they like: it waits for a query connection only behind a
            // bounded queue, as the API's requests do.
            _ = try await database.withConnection(queueingAtMost: databaseQueueLimit) { db in
                try RecipientStore.addOptOut(token.optOut, userID: token.userID, in: token.tenant.namespace, audit: audit, on: db)
            }
        } catch let error as PGError where error.code == .busy {
            var busy = Self.html(.serviceUnavailable, "Too many requests at once. Please try again in a moment.")
            busy.headers[.retryAfter] = "1"
            return busy
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
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    /// `PROMOTIONAL_OFFER` as "promotional offer".
    private static func readable(_ category: String) -> String { category.lowercased().replacingOccurrences(of: "_", with: " ") }
}
