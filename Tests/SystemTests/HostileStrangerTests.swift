import Foundation
import NotifyCore
import StackSupport
import Synchronization
import Testing

/// A stranger against a running daemon's HTTP listener: requests without a key (or with a bad one) are refused before
/// their body is read and without a database connection, at a bounded cost in audit rows and memory; connections,
/// headers, slow senders, request bodies and waiting for the query pool are all bounded. (`HostileTenantTests` plays
/// the tenant with a key; these play whoever has none, or too much patience.)
@Suite(
    "A stranger: refused before the body is read, at a bounded cost in connections, memory, database and audit rows", .needsStack,
    .serialized)
struct HostileStrangerTests {
    @Test(
        "ten thousand keyless requests at once: each 401, written to the audit trail as one row counting them, the daemon small and answering"
    )
    func keylessFlood() async throws {
        // The default window (a minute): the flood fits in one or two, and stopping the daemon writes what it counted.
        let (service, port) = try await SendHTTPTests.service(["NOTIFY_AUDIT_REFUSAL_WINDOW_SECONDS": "60"])
        defer { Task { await service.shutDown() } }
        let began = ContinuousClock.now
        let statuses = try await withThrowingTaskGroup(of: [Int: Int].self) { group in
            for _ in 0..<50 {
                group.addTask {
                    var statuses: [Int: Int] = [:]
                    for _ in 0..<200 {
                        statuses[try await SendHTTPTests.call(port, .POST, "/v1/keys/revoke", key: nil).status, default: 0] += 1
                    }
                    return statuses
                }
            }
            return try await group.reduce(into: [:]) { all, some in all.merge(some, uniquingKeysWith: +) }
        }
        #expect(statuses == [401: 10_000])
        #expect(try await SendHTTPTests.call(port, .GET, "/health/live", key: nil).status == 200)
        let peak = try #require(service.daemon.peakResidentBytes)
        #expect(peak < 150 * 1024 * 1024, "peak RSS \(peak / 1024 / 1024) MB")

        service.daemon.signal(SIGTERM)
        #expect(await service.daemon.waitForExit(timeout: .seconds(15)) == 0)
        let written = try await service.db.withConnection { db in
            try db.query("SELECT count(*) FROM audit_events WHERE outcome LIKE 'refused:%'")[0].decode(0, as: Int.self)
        }
        // One row per window the flood touched (a slow machine's flood may span more than two).
        let windows = Int((ContinuousClock.now - began).components.seconds / 60) + 2
        #expect((1...windows).contains(written), "one row per minute's window, not one per request: \(written) rows")
        let rows = try await service.db.withConnection { db in
            try db.query(
                """
                SELECT actor || ' ' || client_address || ' ' || action || ' ' || outcome, count FROM audit_events
                WHERE outcome LIKE 'refused:%'
                """
            ).map { (try $0.decode(0, as: String.self), try $0.decode(1, as: Int.self)) }
        }
        let counted = rows.map(\.1).reduce(0, +)
        #expect(counted == 10_000, "\(rows)")
        #expect(Set(rows.map(\.0)) == ["anonymous 127.0.0.1 RevokeApiKey refused:401"], "\(rows)")
    }

    @Test(
        "a 1 MiB body without a key, with a malformed one or an unknown one: 401 once the headers arrived, the connection closed, the body never read"
    )
    func bodyNotRead() async throws {
        let (service, port) = try await SendHTTPTests.service()
        defer { Task { await service.shutDown() } }
        for key in [nil, "fmk_not-a-key", APIKey.generate().text] {
            let connection = try RawConnection(port: port)
            // The headers of a batch of 1 MiB, within the route's limit; not a byte of the body follows.
            connection.send(
                "POST /v1/batches HTTP/1.1\r\nHost: notifyd\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n"
                    + (key.map { "x-api-key: \($0)\r\n" } ?? "") + "\r\n")
            let (reply, closed) = await connection.read(for: .seconds(5))
            #expect(RawConnection.status(reply) == 401, "\(key ?? "no key"): \(reply)")
            #expect(reply.lowercased().contains("connection: close"), "\(reply)")
            #expect(closed, "the daemon closed the connection rather than wait for the body")
        }
        #expect(try await SendHTTPTests.call(port, .GET, "/health/live", key: nil).status == 200)
    }

    @Test(
        "connections are bounded: silent ones and header tricklers close after the idle timeout, past the cap a connection waits, a trickled body is cut off, oversized headers are 400"
    )
    func connections() async throws {
        let (service, port) = try await SendHTTPTests.service([
            "NOTIFY_HTTP_IDLE_TIMEOUT_SECONDS": "4", "NOTIFY_HTTP_REQUEST_READ_TIMEOUT_SECONDS": "2", "NOTIFY_HTTP_MAX_CONNECTIONS": "20",
        ])
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)

        let silent = try (0..<19).map { _ in try RawConnection(port: port) }
        let trickler = try RawConnection(port: port)
        let trickling = Task {
            for byte in Array("GET /health/live HTTP/1.1\r\nHost: notifyd\r\nX-Slow: ".utf8)
                + Array(repeating: UInt8(ascii: "a"), count: 40)
            {
                guard trickler.send([byte]) else { return }
                try await Task.sleep(for: .milliseconds(100))
            }
        }
        // Time for the listener to accept all twenty (a slow machine's second), well within their idle timeout.
        try await Task.sleep(for: .seconds(1))
        // The twenty-first: the kernel accepts it, the listener not until one of the twenty closes.
        let waiting = try RawConnection(port: port)
        let asked = ContinuousClock.now
        waiting.send("GET /health/live HTTP/1.1\r\nHost: notifyd\r\nConnection: close\r\n\r\n")
        let answered = Task {
            (reply: await waiting.read(for: .seconds(10)) { $0.contains("\r\n\r\n") }.text, after: ContinuousClock.now - asked)
        }
        let closed = await withTaskGroup(of: Bool.self) { group in
            for connection in silent + [trickler] { group.addTask { await connection.read(for: .seconds(8)).closed } }
            return await group.reduce(into: 0) { $0 += $1 ? 1 : 0 }
        }
        trickling.cancel()
        #expect(closed == 20, "every silent or trickling connection is closed after the idle timeout")
        let (reply, after) = await answered.value
        #expect(RawConnection.status(reply) == 200, "\(reply)")
        #expect(after > .milliseconds(1_500), "answered only once the idle ones were closed, after \(after)")

        // A body trickled by a caller with a key: cut off at the read timeout, unanswered.
        let slow = try RawConnection(port: port)
        slow.send(
            "POST /v1/template-previews HTTP/1.1\r\nHost: notifyd\r\nContent-Type: application/json\r\nContent-Length: 2000\r\n"
                + "x-api-key: \(shop.productKey)\r\n\r\n{")
        let dripping = Task {
            for _ in 0..<40 {
                guard slow.send(" ") else { return }
                try await Task.sleep(for: .milliseconds(150))
            }
        }
        let (cut, cutClosed) = await slow.read(for: .seconds(8))
        dripping.cancel()
        #expect(cutClosed && cut.isEmpty, "closed without an answer: \(cut)")

        for headers in [(0..<200).map { "X-Many-\($0): 1\r\n" }.joined(), "X-Large: \(String(repeating: "a", count: 20_000))\r\n"] {
            let connection = try RawConnection(port: port)
            connection.send("GET /health/live HTTP/1.1\r\nHost: notifyd\r\n\(headers)\r\n")
            let (refused, refusedClosed) = await connection.read(for: .seconds(5))
            #expect(RawConnection.status(refused) == 400 && refusedClosed, "\(refused)")
        }
        #expect(try await SendHTTPTests.call(port, .GET, "/health/live", key: nil).status == 200)
    }

    @Test("a connection that says nothing is closed 10 s after it opened, however long the idle timeout; one that sent a request keeps it")
    func silentConnection() async throws {
        let (service, port) = try await SendHTTPTests.service()
        defer { Task { await service.shutDown() } }
        _ = try await TenantTests.onboard(service)  // the listener is up once the daemon answers
        let silent = try RawConnection(port: port)
        let opened = ContinuousClock.now
        let talking = try RawConnection(port: port)
        let request = "GET /health/live HTTP/1.1\r\nHost: notifyd\r\n\r\n"
        talking.send(request)
        #expect(RawConnection.status(await talking.read(for: .seconds(5)) { $0.hasSuffix("}") }.text) == 200)

        let (text, closed) = await silent.read(for: .seconds(20))
        let after = ContinuousClock.now - opened
        #expect(closed && text.isEmpty, "closed without a word: \(text)")
        #expect(after >= .seconds(9) && after < .seconds(15), "closed \(after) after it opened")
        // The idle timeout (60 s) spares a keep-alive connection between requests.
        talking.send(request)
        #expect(RawConnection.status(await talking.read(for: .seconds(5)) { $0.hasSuffix("}") }.text) == 200)
    }

    @Test(
        "the body budget: while one request holds it, another gets 503 with Retry-After before its body is read; free again once that one ends"
    )
    func bodyBudget() async throws {
        let (service, port) = try await SendHTTPTests.service(["NOTIFY_HTTP_BODY_BUDGET_BYTES": "1048576"])
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let preview: [String: Any] = ["template": ["title": "Hi {{name}}", "body": "b"], "data": ["name": "Ada"]]

        // A batch of 1 MiB whose body comes slowly: it reserves the whole budget once its key is checked.
        func holding() throws -> RawConnection {
            let holder = try RawConnection(port: port)
            holder.send(
                "POST /v1/batches HTTP/1.1\r\nHost: notifyd\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n"
                    + "x-api-key: \(shop.productKey)\r\n\r\n{")
            return holder
        }
        var holder = try holding()
        var refused: SendHTTPTests.Reply?
        let deadline = ContinuousClock.now + .seconds(5)
        while refused == nil, ContinuousClock.now < deadline {
            let reply = try await SendHTTPTests.call(port, .POST, "/v1/template-previews", key: shop.productKey, body: preview)
            if reply.status == 503 {
                refused = reply
            } else if await !holder.read(for: .milliseconds(100), until: { !$0.isEmpty }).text.isEmpty {
                // The holder needs the whole budget: a preview still holding its share when the holder's key was
                // checked turned it away (503), so it tries again.
                holder = try holding()
            }
        }
        let busy = try #require(refused, "a request past the budget is refused")
        #expect(busy.code == "busy" && busy.headers.first(name: "retry-after") == "1", "\(busy.text)")
        #expect(busy.headers.first(name: "connection") == "close", "its body was not read")

        holder.shutdown()  // the holder gives up
        var answered = 0
        for _ in 0..<50 where answered != 200 {
            answered = try await SendHTTPTests.call(port, .POST, "/v1/template-previews", key: shop.productKey, body: preview).status
            if answered != 200 { try await Task.sleep(for: .milliseconds(100)) }
        }
        #expect(answered == 200, "the budget is free again once the holder's request ended")
    }

    @Test(
        "one-click unsubscribes: at most half the query pool (two of four) write at once, the third 503 at once with Retry-After; a tenant is served meanwhile; the two finish"
    )
    func unsubscribesBounded() async throws {
        let secret = "unsubscribe-secret-of-at-least-32-characters"
        let (service, port) = try await SendHTTPTests.service([
            "NOTIFY_EMAIL_UNSUBSCRIBE_URL": "http://127.0.0.1/unsubscribe?token={token}", "NOTIFY_EMAIL_UNSUBSCRIBE_SECRET": secret,
        ])
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let signer = try #require(UnsubscribeSigner(secrets: [secret]))
        func unsubscribe(_ user: Int, within timeout: Duration) async throws -> Int? {
            let token = signer.sign(
                UnsubscribeToken(tenant: nil, userID: "u\(user)-\(service.id)", channel: .email, category: "NEWSLETTER"))
            let connection = try RawConnection(port: port)
            connection.send(
                "POST /unsubscribe?token=\(token) HTTP/1.1\r\nHost: notifyd\r\nContent-Length: 2\r\nConnection: close\r\n\r\nab")
            return RawConnection.status(await connection.read(for: timeout) { $0.contains("</html>") }.text)
        }
        let replies = Replies()
        var writing: [Task<Void, any Error>] = []
        let (busy, preview) = try await service.db.transaction(spanning: { transaction in
            // The directory locked: each unsubscribe waits in the database, holding one of the two.
            _ = try await transaction.run { try $0.execute("LOCK TABLE recipients IN ACCESS EXCLUSIVE MODE") }
            for user in 0..<2 {
                writing.append(Task { replies.append((true, try await unsubscribe(user, within: .seconds(30)) ?? 0, nil)) })
            }
            // Two users' unsubscribes, each waiting for the lock (well within the statement timeout).
            let deadline = ContinuousClock.now + .seconds(3)
            while ContinuousClock.now < deadline,
                try await service.db.withConnection({ db in
                    try db.query("SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'recipients'::regclass")[0].decode(
                        0, as: Int.self)
                }) < 2
            {
                try await Task.sleep(for: .milliseconds(50))
            }
            let busy = try await unsubscribe(2, within: .seconds(2))
            let body: [String: Any] = ["template": ["title": "Hi {{name}}", "body": "b"], "data": ["name": "Ada"]]
            return (busy, try await SendHTTPTests.call(port, .POST, "/v1/template-previews", key: shop.productKey, body: body).status)
        })
        #expect(busy == 503, "a third while two wait is refused at once")
        #expect(preview == 200, "a tenant is served while the unsubscribes wait")
        for task in writing { try await task.value }
        #expect(replies.all.map(\.status) == [200, 200], "the two finish once the directory is free")
    }

    @Test(
        "the query pool's queue is bounded: with its one connection blocked, keyed requests past the queue get 503 at once and keyless ones 401; none hang"
    )
    func poolQueue() async throws {
        let (service, port) = try await SendHTTPTests.service([
            "NOTIFY_POSTGRES_QUERY_POOL_SIZE": "1", "NOTIFY_HTTP_DATABASE_QUEUE_LIMIT": "2",
        ])
        defer { Task { await service.shutDown() } }
        let shop = try await TenantTests.onboard(service)
        let replies = Replies()
        var requests: [Task<Void, any Error>] = []
        let blocked = ContinuousClock.now
        let whileBlocked = try await service.db.transaction(spanning: { transaction in
            // Key lookups wait for this lock: the first request holds the pool's only connection, two may queue.
            _ = try await transaction.run { try $0.execute("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE") }
            for keyed in Array(repeating: true, count: 20) + Array(repeating: false, count: 5) {
                requests.append(
                    Task {
                        let reply = try await SendHTTPTests.call(port, .GET, "/v1/templates", key: keyed ? shop.productKey : nil)
                        replies.append((keyed, reply.status, reply.headers.first(name: "retry-after")))
                    })
            }
            let deadline = ContinuousClock.now + .seconds(15)
            while replies.all.count < 22, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
            return replies.all
        })
        #expect(ContinuousClock.now - blocked < .seconds(15), "answered while the pool was blocked")
        #expect(whileBlocked.filter { !$0.keyed }.map(\.status) == [401, 401, 401, 401, 401], "no key: refused without the database")
        let busy = whileBlocked.filter { $0.keyed && $0.status == 503 }
        #expect(busy.count == 17 && busy.allSatisfy { $0.retryAfter == "1" }, "\(whileBlocked)")
        for request in requests { try await request.value }
        #expect(replies.all.filter { $0.keyed && $0.status == 200 }.count == 3, "the three that held or queued are answered")
    }

    /// Replies as they arrive, from concurrent requests.
    final class Replies: Sendable {
        typealias Reply = (keyed: Bool, status: Int, retryAfter: String?)
        private let state = Mutex<[Reply]>([])
        func append(_ reply: Reply) { state.withLock { $0.append(reply) } }
        var all: [Reply] { state.withLock { $0 } }
    }
}
