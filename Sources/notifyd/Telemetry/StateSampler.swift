import AMQP
import Foundation
import Logging
import NotifyCore
import NotifyStore
import Postgres
import ServiceLifecycle

/// Samples what no counter sees, every `interval`, into the gauges: each lane's depth (a passive declare) and the
/// age of its oldest job, the dead-letter queue's depth, the outbox backlog and the parked archive, and whether
/// each provider takes work. A sample that fails (the broker or the database away) keeps the last values and is
/// logged at debug: readiness reports the outage itself.
struct StateSampler: Service {
    let connection: AMQPConnection
    let database: PGPool
    let lanes: LaneBuffer
    let health: ProviderHealth
    let metrics: DaemonMetrics
    let names: ContractNames
    let interval: Duration
    let logger: Logger

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await sample()
                try? await Task.sleep(for: interval)
            }
        }
    }

    func sample() async {
        let now = UInt64(Date().timeIntervalSince1970)
        for lane in NotificationPriority.allCases {
            do {
                let status = try await connection.queueStatus(names.laneQueue(lane))
                metrics.lane(lane, depth: Int(status.messageCount), oldestAgeSeconds: Double(lanes.oldestAge(lane, now: now)))
            } catch {
                logger.debug("cannot sample a lane", metadata: ["delivery.lane": "\(lane.rawValue)", "error": "\(error)"])
            }
        }
        if let status = try? await connection.queueStatus(names.deadLetterQueue) {
            metrics.deadLetterDepth(Int(status.messageCount))
        }
        do {
            let counts = try await BacklogStore.counts(on: database)
            metrics.outboxBacklog(counts.outbox)
            metrics.parkedArchived(counts.parked)
        } catch {
            logger.debug("cannot sample the outbox", metadata: ["error": "\(error)"])
        }
        for entry in health.all { metrics.provider(channel: entry.channel, name: entry.provider, breaker: entry.breaker.state) }
    }
}
