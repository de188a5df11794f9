import Logging
import NotifyCore
import NotifyStore
import Postgres
import Synchronization

/// Writes sends in group commits: whatever sends arrive while one commit is under way go together in the next,
/// through the same few statements and one WAL flush. A send's 202 still means its request, notification,
/// deliveries, jobs and audit row are committed; under load, many sends share that cost instead of each paying it.
///
/// Sends come from any thread (the RPC queue's database threads, the HTTP listener) and are answered through
/// their `reply`, on this committer's own connection thread. At most `maxPending` wait; past that a send is
/// answered 503 with `Retry-After` at once, so a flood costs bounded memory.
final class SendCommitter: Sendable {
    /// One commit takes at most this many notifications (whole requests; a single larger `SendBatch` goes alone).
    static let maxNotificationsPerCommit = 2_000
    /// Sends waiting for a commit, at most.
    static let maxPending = 4_096

    typealias Reply = @Sendable (Result<CommandHandlers.Answer, any Error>) -> Void

    private struct Waiting {
        let send: PendingSend
        let reply: Reply
    }

    private struct State {
        var waiting: [Waiting] = []
        /// A commit is queued or under way on the connection's thread; it takes the next group when it ends.
        var committing = false
    }

    private let database: PGPool
    private let context: SendContext
    /// Where refused sends (over quota, a clashing idempotency key) are counted for the audit trail.
    private let refusals: RefusalAuditor
    private let metrics: DaemonMetrics
    private let logger: Logger
    private let state = Mutex(State())

    /// `database` should be a pool of one connection of its own: the commits run on its thread, one after another.
    init(database: PGPool, context: SendContext, refusals: RefusalAuditor, metrics: DaemonMetrics, logger: Logger) {
        self.database = database
        self.context = context
        self.refusals = refusals
        self.metrics = metrics
        self.logger = logger
    }

    /// Queues `send` for the next commit; `reply` gets its answer (202, 208, 409, 429 or 503) once that commit ends.
    func commit(_ send: PendingSend, reply: @escaping Reply) {
        let start = state.withLock { state -> Bool? in
            guard state.waiting.count < Self.maxPending else { return nil }
            state.waiting.append(Waiting(send: send, reply: reply))
            defer { state.committing = true }
            return !state.committing
        }
        switch start {
        case nil:
            reply(.failure(CommandFailure.busy("too many sends waiting to be written; send it again shortly")))
        case true?:
            database.submit { self.next($0) }
        case false?:
            break
        }
    }

    /// The committer's turn on its connection: one group, then, if more came meanwhile, another turn (a fresh
    /// submit, so a connection that broke is replaced before the next group uses it).
    private func next(_ connection: Result<PGConnection, PGError>) {
        let group = state.withLock { state -> [Waiting] in
            var (taken, notifications) = (0, 0)
            for waiting in state.waiting {
                let count = waiting.send.acceptance.plan.notifications.count
                guard taken == 0 || notifications + count <= Self.maxNotificationsPerCommit else { break }
                (taken, notifications) = (taken + 1, notifications + count)
            }
            defer { state.waiting.removeFirst(taken) }
            return Array(state.waiting.prefix(taken))
        }
        switch connection {
        case .success(let db): write(group, on: db)
        case .failure(let error):
            logger.error("sends not written: no database connection", metadata: ["error": "\(error)"])
            for waiting in group { waiting.reply(.failure(Self.unavailable)) }
        }
        let more = state.withLock { state -> Bool in
            state.committing = !state.waiting.isEmpty
            return state.committing
        }
        if more { database.submit { self.next($0) } }
    }

    /// Commits `group`: quotas first (one statement per tenant while under them), then one transaction for every
    /// admitted send. If that transaction fails, each send is tried alone, so one that cannot be written fails by
    /// itself; a broken connection fails them all with 503 and `Retry-After` (a repeat with the same idempotency key
    /// is answered once whatever happened).
    private func write(_ group: [Waiting], on db: PGConnection) {
        var answers: [Result<CommandHandlers.Answer, any Error>?] = Array(repeating: nil, count: group.count)
        func refuse(_ index: Int, _ failure: CommandFailure) {
            answers[index] = .failure(failure)
            let send = group[index].send
            refusals.refused(.refused(send.call.command, by: send.call.principal, failure: failure, requestID: send.call.requestID))
        }
        do {
            let admitted = try admit(group, on: db) { index, outcome in
                switch outcome {
                case .success(let answer): answers[index] = .success(answer)
                case .failure(let failure): refuse(index, failure)
                }
            }
            let outcomes = try accept(admitted.map { group[$0].send }, on: db)
            var unused: [PendingSend] = []
            for (index, outcome) in zip(admitted, outcomes) {
                let send = group[index].send
                switch outcome {
                case .success(.accepted): answers[index] = .success(CommandHandlers.accepted(send))
                case .success(.repeated(let earlier)):
                    unused.append(send)
                    switch CommandHandlers.repeated(earlier, windowHours: context.settings.idempotencyHours) {
                    case .success(let answer): answers[index] = .success(answer)
                    case .failure(let failure): refuse(index, failure)
                    }
                case .success(.raced):
                    unused.append(send)
                    refuse(index, CommandFailure.busy("a request with this idempotencyKey was being written; send it again"))
                case .failure(let error):
                    unused.append(send)
                    answers[index] = .failure(error)
                }
            }
            release(unused.flatMap { send in schedules(send).map { ($0, send.acceptance.plan.notifications.count) } }, on: db)
            let jobs = zip(admitted, outcomes).contains { index, outcome in
                (try? outcome.get()) == .accepted && !group[index].send.acceptance.plan.outbox.isEmpty
            }
            if jobs { context.outboxCommitted() }
        } catch {
            logger.error("a group of sends was not written", metadata: ["sends": "\(group.count)", "error": "\(error)"])
        }
        metrics.sendCommit(sends: group.count)
        // A send left unanswered met an error of the database connection: it may be sent again.
        for (waiting, answer) in zip(group, answers) { waiting.reply(answer ?? .failure(Self.unavailable)) }
    }

    /// The sends of `group` within their tenants' quotas, by index, as `QuotaAdmission` decides; the others are
    /// answered through `answer` (a repeat of an earlier request as such, even over the quota; else 429 with
    /// `Retry-After`).
    private func admit(
        _ group: [Waiting], on db: PGConnection, answer: (Int, Result<CommandHandlers.Answer, CommandFailure>) -> Void
    ) throws -> [Int] {
        var admission = QuotaAdmission(
            group.map {
                QuotaAdmission.Send(
                    tenant: $0.send.acceptance.request.tenant, slots: $0.send.acceptance.plan.notifications.count,
                    schedules: schedules($0.send))
            })
        while let take = admission.next() { admission.took(refusedFor: try self.take(take.schedules, count: take.count, on: db)) }
        for (index, retryAfter) in admission.refused {
            if let earlier = try SendStore.earlier(group[index].send.acceptance.request, on: db) {
                answer(index, CommandHandlers.repeated(earlier, windowHours: context.settings.idempotencyHours))
            } else {
                answer(index, .failure(.overQuota(retryAfter: retryAfter)))
            }
        }
        return admission.admitted.sorted()
    }

    /// Takes `count` slots of every schedule, or of none: nil when they were taken, else the seconds until they
    /// could be (the first schedule that refused; what the others gave is handed back).
    private func take(_ schedules: [(key: String, limit: RateLimit)], count: Int, on db: PGConnection) throws -> Int? {
        var taken: [(key: String, limit: RateLimit)] = []
        for schedule in schedules {
            if let retryAfter = try RateLimitStore.admit(schedule.key, count: count, limit: schedule.limit, on: db) {
                release(taken.map { ($0, count) }, on: db)
                return retryAfter
            }
            taken.append(schedule)
        }
        return nil
    }

    /// The outcome of each send: all in one transaction, or, if that fails, each in its own.
    private func accept(_ sends: [PendingSend], on db: PGConnection) throws -> [Result<SendStore.Outcome, any Error>] {
        let windowHours = context.settings.idempotencyHours
        do {
            return try SendStore.accept(sends.map(\.acceptance), windowHours: windowHours, on: db).map { .success($0) }
        } catch let error as PGError where error.isRetriable {
            throw error
        } catch {
            guard sends.count > 1 else { return [.failure(error)] }
            logger.warning(
                "a group commit of sends failed; writing them one by one", metadata: ["sends": "\(sends.count)", "error": "\(error)"])
            return sends.map { send in
                Result { try SendStore.accept([send.acceptance], windowHours: windowHours, on: db)[0] }
            }
        }
    }

    /// Hands back slots taken for sends that wrote nothing, one statement per schedule.
    private func release(_ slots: [(schedule: (key: String, limit: RateLimit), count: Int)], on db: PGConnection) {
        var merged: [String: (limit: RateLimit, count: Int)] = [:]
        for (schedule, count) in slots { merged[schedule.key, default: (schedule.limit, 0)].count += count }
        for (key, slots) in merged where slots.count > 0 {
            do {
                try RateLimitStore.release(key, count: slots.count, limit: slots.limit, on: db)
            } catch {
                logger.warning("quota not handed back", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The quota schedules a send counts against: its tenant's own quotas where set, else the deployment's.
    private func schedules(_ send: PendingSend) -> [(key: String, limit: RateLimit)] {
        send.call.principal.quotas.schedules(of: send.acceptance.request.tenant, fallback: context.settings.quota)
    }

    private static let unavailable = CommandFailure(
        status: 503, code: "unavailable", message: "the database did not answer; send it again",
        retryAfterSeconds: 1)
}
