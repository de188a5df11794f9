import Logging
import NotifyStore
import Postgres
import ServiceLifecycle

/// Prunes what the tables keep past their horizons (`RetentionStore`): a round every `retention.intervalSeconds`,
/// the first a minute after start (not while a restart is busy catching up). Every daemon runs one; one at a time
/// prunes, so several daemons neither race nor double the load. A failed round is logged and tried at the next.
struct RetentionJob: Service {
    let database: PGPool
    let settings: RetentionSettings
    let metrics: DaemonMetrics
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            var wait = min(settings.interval, .seconds(60))
            while !Task.isCancelled {
                try? await Task.sleep(for: wait)
                wait = settings.interval
                guard !Task.isCancelled else { return }
                do {
                    let (horizons, batch, batches) = (settings.horizons, settings.batchSize, settings.maxBatches)
                    guard
                        let pruned = try await database.withConnection({ db in
                            try RetentionStore.prune(horizons, batch: batch, maxBatches: batches, on: db)
                        })
                    else { continue }
                    for (table, rows) in pruned where rows > 0 { metrics.pruned(rows, table: table) }
                    if pruned.values.contains(where: { $0 > 0 }) {
                        logger.info(
                            "retention pruned",
                            metadata: Logger.Metadata(uniqueKeysWithValues: pruned.map { ("retention.\($0.key)", "\($0.value)") }))
                    }
                } catch {
                    logger.warning("retention round failed; trying at the next", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
