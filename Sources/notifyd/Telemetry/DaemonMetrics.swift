import CoreMetrics
import NotifyCore
import Prometheus

/// The daemon's metrics: counted through the swift-metrics API on a Prometheus registry of its own, which
/// `GET /metrics` renders. One instance per daemon, handed to the services that count, so tests can read a
/// registry nobody else writes to (no process-wide bootstrap). Names and labels are docs/operations.md's metrics table.
///
/// Counters are made per batch or per request, never per message on a hot path: the registry keeps one series per
/// name and label set, so making the same counter again finds the series it already has.
final class DaemonMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        // From a pipelined SMTP batch on loopback (milliseconds) to a provider that answers at its timeout.
        factory.durationHistogramBuckets[Self.sendSeconds] = [
            .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
            .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
        ]
        factory.durationHistogramBuckets[Self.pacingSeconds] = [
            .zero, .milliseconds(10), .milliseconds(100), .seconds(1), .seconds(10), .seconds(60),
        ]
        self.factory = factory
    }

    static let sendSeconds = "notify_delivery_send_seconds"
    static let pacingSeconds = "notify_rate_limit_wait_seconds"

    /// The text `/metrics` serves (Prometheus exposition format 0.0.4).
    func exposition() -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(16 * 1024)
        registry.emit(into: &buffer)
        return buffer
    }

    // MARK: Ingestion and RPC

    /// A batch of events taken from the events queue, what it created, and what of it was parked.
    func ingested(events: Int, notifications: Int, parked: [Rejection.Reason]) {
        counter("notify_events_received_total").increment(by: events)
        if notifications > 0 { counter("notify_notifications_created_total").increment(by: notifications) }
        for (reason, count) in Dictionary(parked.map { ($0, 1) }, uniquingKeysWith: +) {
            counter("notify_events_parked_total", ["reason": reason.rawValue]).increment(by: count)
        }
    }

    /// One command answered, over either transport, by command (`unknown` for an RPC type that is none) and reply
    /// status. The metric keeps its first name, `notify_rpc_requests_total`, so dashboards need not change.
    func command(_ command: String, status: Int) {
        counter("notify_rpc_requests_total", ["command": command, "status": String(status)]).increment()
    }

    /// Rows the retention job removed from `table`.
    func pruned(_ rows: Int, table: String) { counter("notify_retention_deleted_rows_total", ["table": table]).increment(by: rows) }

    /// One group commit of sends: the two totals' ratio is the mean group size.
    func sendCommit(sends: Int) {
        counter("notify_send_commits_total").increment()
        counter("notify_send_commit_requests_total").increment(by: sends)
    }

    // MARK: Delivery

    /// What happened to the deliveries of one send through one provider.
    enum Outcome: String {
        case sent, retried, dead, held, deferred, throttled

        /// How a round's outcome is counted (`held` and `throttled` are counted where a job is handed back).
        init(_ tally: DeliveryOutcome.Tally) {
            switch tally {
            case .sent: self = .sent
            case .retried: self = .retried
            case .dead: self = .dead
            case .deferred: self = .deferred
            }
        }
    }

    func deliveries(_ count: Int, channel: NotificationChannel, provider: String, outcome: Outcome) {
        guard count > 0 else { return }
        counter("notify_deliveries_total", ["channel": channel.rawValue, "provider": provider, "outcome": outcome.rawValue])
            .increment(by: count)
    }

    /// A failure that sent its delivery to a retry tier (`retried`) or parked it (`dead`), by error code.
    func failure(channel: NotificationChannel, code: String, dead: Bool) {
        counter(dead ? "notify_delivery_dead_total" : "notify_delivery_retries_total", ["channel": channel.rawValue, "code": code])
            .increment()
    }

    /// How long one provider call took, recorded once per delivery it carried: each waited that long.
    func sent(_ deliveries: Int, channel: NotificationChannel, provider: String, took duration: Duration) {
        let timer = CoreMetrics.Timer(
            label: Self.sendSeconds, dimensions: [("channel", channel.rawValue), ("provider", provider)], factory: factory)
        let (seconds, attoseconds) = duration.components
        let nanoseconds = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        for _ in 0..<deliveries { timer.recordNanoseconds(nanoseconds) }
    }

    /// How long a round waited for its rate-limit slots (zero when they were due).
    func paced(provider: String, waited seconds: Double) {
        CoreMetrics.Timer(label: Self.pacingSeconds, dimensions: [("provider", provider)], factory: factory)
            .recordNanoseconds(Int64(seconds * 1e9))
    }

    /// Receipts posted by a provider, by what became of them: `applied`, `kept` (changed nothing), `unknown`
    /// (no such delivery), `rejected` (bad signature or body).
    func receipts(_ count: Int, provider: String, outcome: String) {
        guard count > 0 else { return }
        counter("notify_receipts_total", ["provider": provider, "outcome": outcome]).increment(by: count)
    }

    /// One round of the claim sweeper (`ClaimSweeper`): the abandoned claims it found (deliveries `sending` longer
    /// than `delivery.sweepAfterSeconds` whose job came back) and those it made claimable again.
    func swept(stuck: Int, swept: Int) {
        counter("notify_claim_sweeps_total").increment()
        gauge("notify_deliveries_stuck").record(stuck)
        if swept > 0 { counter("notify_deliveries_swept_total").increment(by: swept) }
    }

    // MARK: Sampled state

    func lane(_ lane: NotificationPriority, depth: Int, oldestAgeSeconds: Double) {
        gauge("notify_lane_depth", ["lane": lane.rawValue]).record(depth)
        gauge("notify_lane_oldest_age_seconds", ["lane": lane.rawValue]).record(oldestAgeSeconds)
    }

    func deadLetterDepth(_ depth: Int) { gauge("notify_dead_letter_queue_depth").record(depth) }
    func parkedArchived(_ count: Int) { gauge("notify_parked_messages").record(count) }
    func outboxBacklog(_ rows: Int) { gauge("notify_outbox_backlog").record(rows) }

    /// Up while its breaker is closed; the breaker's state as 0 closed, 1 half-open, 2 open.
    func provider(channel: NotificationChannel, name: String, breaker: CircuitBreaker.State) {
        let state =
            switch breaker {
            case .closed: 0
            case .halfOpen: 1
            case .open: 2
            }
        gauge("notify_provider_up", ["channel": channel.rawValue, "provider": name]).record(state == 0 ? 1 : 0)
        gauge("notify_provider_breaker_state", ["channel": channel.rawValue, "provider": name]).record(state)
    }

    // MARK: -

    private func counter(_ label: String, _ dimensions: KeyValuePairs<String, String> = [:]) -> CoreMetrics.Counter {
        CoreMetrics.Counter(label: label, dimensions: dimensions.map { ($0.key, $0.value) }, factory: factory)
    }

    private func gauge(_ label: String, _ dimensions: KeyValuePairs<String, String> = [:]) -> CoreMetrics.Gauge {
        CoreMetrics.Gauge(label: label, dimensions: dimensions.map { ($0.key, $0.value) }, factory: factory)
    }
}
