import Logging
import NotifyStore
import Postgres
import ServiceLifecycle

/// Releases scheduled sends when they are due: every second, moves the due jobs (`OutboxStore.releaseDue`, at most
/// `batch` a statement, again at once while a statement fills) into the outbox and rings the relay. Every daemon
/// runs one; `SKIP LOCKED` keeps them from taking the same jobs, so a send leaves once, within about a second of
/// its time, while any daemon is up.
struct ScheduledRelease: Service {
    let database: PGPool
    let doorbell: OutboxDoorbell
    let batch: Int
    let logger: Logger

    func run() async throws {
        let batch = batch
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let released = try await database.withConnection { try OutboxStore.releaseDue(limit: batch, on: $0) }
                    if released > 0 {
                        doorbell.ring()
                        logger.debug("scheduled sends released", metadata: ["outbox.released": "\(released)"])
                    }
                    if released == batch { continue }
                } catch {
                    logger.warning("cannot release scheduled sends", metadata: ["error": "\(error)"])
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
