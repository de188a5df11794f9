import AMQP
import Foundation
import NotifyCore
import Postgres
import Synchronization

/// One named check of a health report: passed or not, with what it saw or why it failed (safe to show: no
/// credentials, no payloads, no server replies).
struct HealthCheck: Sendable, Equatable {
    var name: String
    var ok: Bool
    var detail: String

    var json: JSONValue { .object([("ok", .bool(ok)), ("detail", .string(detail))]) }
}

/// What `GET /health/live`, `GET /health/ready` and `GET /health/delivery` answer: `{"status": ..., "checks": {name: {ok, detail}}}`, 200
/// when every check passed and 503 otherwise.
struct HealthReport: Sendable, Equatable {
    var checks: [HealthCheck]
    var passed: String
    var failed: String

    var ok: Bool { checks.allSatisfy(\.ok) }
    var status: Int { ok ? 200 : 503 }
    var json: JSONValue {
        .object([("status", .string(ok ? passed : failed)), ("checks", .object(checks.map { ($0.name, $0.json) }))])
    }
}

/// The checks behind the health endpoints.
///
/// - Live: every connection thread and database thread still answers (the watchdog's probes, which a thread
///   stuck in a C call never does). A live daemon that is not ready is waiting for something outside it.
/// - Ready (to accept work): every broker connection is up and not blocked by a resource alarm; the database answers
///   within `databaseTimeout`; ingestion and RPC consume. What a load balancer asks: a daemon that is ready accepts
///   sends, receipts and unsubscribes, and keeps them, whatever its providers are doing.
/// - Delivery: every channel has a provider that takes work, and no lane's oldest job is older than its limit. When
///   it fails the service is delivering degraded (an SMTP outage): every daemon shares that, so taking daemons out of
///   a load balancer for it would only add an API outage to the provider's. Alert on it; do not route on it.
struct HealthChecks: Sendable {
    let connections: [(name: String, connection: AMQPConnection)]
    let database: PGPool
    let readiness: Readiness
    let providers: ProviderHealth
    let lanes: LaneBuffer
    let laneAgeLimits: [NotificationPriority: Int]
    let probes: [Watchdog.Probe]
    var liveLimit: Duration = .seconds(30)
    var databaseTimeout: Duration = .seconds(2)
    private let databaseCheck = DatabaseCheck()

    func live() -> HealthReport {
        let stuck = probes.filter { !$0.isAlive(limit: liveLimit) }.map(\.name)
        return HealthReport(
            checks: [
                HealthCheck(
                    name: "threads", ok: stuck.isEmpty,
                    detail: stuck.isEmpty ? "\(probes.count) threads answer" : "not answering: \(stuck.joined(separator: ", "))")
            ],
            passed: "live", failed: "stuck")
    }

    func ready() async -> HealthReport {
        var checks: [HealthCheck] = []
        let down = connections.filter { !$0.connection.isConnected }.map(\.name)
        let blocked = connections.filter { $0.connection.isBlocked }.map(\.name)
        checks.append(
            HealthCheck(
                name: "broker", ok: down.isEmpty && blocked.isEmpty,
                detail: !down.isEmpty
                    ? "not connected: \(down.joined(separator: ", "))"
                    : !blocked.isEmpty
                        ? "blocked by a broker resource alarm: \(blocked.joined(separator: ", "))"
                        : "\(connections.count) connections up"))
        let answers = await databaseAnswers()
        checks.append(
            HealthCheck(
                name: "database", ok: answers,
                detail: answers ? "answers" : "does not answer SELECT 1 (down, refusing, or slower than \(databaseTimeout))"))
        let waiting = readiness.waiting
        for part in readiness.parts {
            checks.append(HealthCheck(name: part, ok: waiting[part] == nil, detail: waiting[part] ?? "consuming"))
        }
        return HealthReport(checks: checks, passed: "ready", failed: "not-ready")
    }

    func delivery() -> HealthReport {
        var checks: [HealthCheck] = []
        // A channel is ready while one of its providers takes work (a breaker closed or probing): failover covers the rest.
        for (channel, entries) in Dictionary(grouping: providers.all, by: \.channel).sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            checks.append(
                HealthCheck(
                    name: "provider.\(channel.rawValue)",
                    ok: entries.contains { if case .open = $0.breaker.state { false } else { true } },
                    detail: entries.map { entry in entry.down.map { "\(entry.provider) \($0)" } ?? "\(entry.provider) up" }.joined(
                        separator: ", ")))
        }
        let now = UInt64(Date().timeIntervalSince1970)
        for lane in NotificationPriority.allCases {
            let age = lanes.oldestAge(lane, now: now)
            let limit = laneAgeLimits[lane] ?? 0
            let ok = limit == 0 || age <= UInt64(limit)
            checks.append(
                HealthCheck(
                    name: "lane.\(lane.rawValue)", ok: ok,
                    detail: "oldest job \(age) s" + (limit == 0 ? "" : ok ? ", limit \(limit) s" : ", over the limit of \(limit) s")))
        }
        return HealthReport(checks: checks, passed: "delivering", failed: "degraded")
    }

    /// A trivial query, raced against the timeout: a hung server must not hang the health check. One query at
    /// most is in flight however often the endpoint is polled.
    private func databaseAnswers() async -> Bool {
        await databaseCheck.answers(database, within: databaseTimeout)
    }
}

/// The database check in flight, shared by every caller until it ends. A caller that times out leaves the list,
/// so a hung server holds one query and no callers, however often the endpoint is polled.
private final class DatabaseCheck: Sendable {
    private struct State {
        var running = false
        var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
        var next = 0
    }

    private let state = Mutex(State())

    func answers(_ database: PGPool, within timeout: Duration) async -> Bool {
        await withCheckedContinuation { continuation in
            let (ticket, start) = state.withLock { state in
                defer {
                    state.next += 1
                    state.running = true
                }
                state.waiters[state.next] = continuation
                return (state.next, !state.running)
            }
            if start {
                Task {
                    let answers = await database.answers()
                    let waiters = state.withLock { state in
                        defer {
                            state.waiters = [:]
                            state.running = false
                        }
                        return state.waiters.values
                    }
                    for waiter in waiters { waiter.resume(returning: answers) }
                }
            }
            Task {
                try? await Task.sleep(for: timeout)
                state.withLock { $0.waiters.removeValue(forKey: ticket) }?.resume(returning: false)
            }
        }
    }
}
