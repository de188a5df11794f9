import Logging
import NotifyCore
import NotifyStore
import Postgres
import ServiceLifecycle

/// Finds claims abandoned unreleased (`ClaimSweep`) and makes their deliveries claimable again, their kept jobs
/// published through the outbox: a round every `delivery.sweepIntervalSeconds`, in every daemon (rows are taken
/// `SKIP LOCKED`, so daemons sweeping at once share the work). A failed round is logged and tried at the next.
struct ClaimSweeper: Service {
    let database: PGPool
    let policy: ClaimSweep
    let metrics: DaemonMetrics
    /// Rings the relay when a round queued jobs.
    let outboxCommitted: @Sendable () -> Void
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(policy.intervalSeconds))
                guard !Task.isCancelled else { return }
                do {
                    let round = try await DeliveryStore.sweep(policy, on: database)
                    metrics.swept(stuck: round.stuck, swept: round.swept)
                    guard round.swept > 0 else { continue }
                    outboxCommitted()
                    logger.warning(
                        "swept deliveries left sending by an abandoned claim; their jobs go out again",
                        metadata: [
                            "delivery.swept": "\(round.swept)", "delivery.stuck": "\(round.stuck)",
                        ])
                } catch {
                    logger.warning("claim sweep failed; trying at the next round", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
