import Foundation
import Logging
import NotifyCore
import NotifyStore
import Postgres
import ServiceLifecycle
import Synchronization

/// Writes refused commands to the audit trail a window at a time (`RefusalTally`): the transports count a refusal
/// here, in memory and without a database connection, and every `audit.refusalWindowSeconds` (and once more as the
/// daemon stops, after the listeners drained) the window's rows are written in one statement. Rows a failed write
/// could not store are counted again for the next window, within the tally's bound.
final class RefusalAuditor: Service, Sendable {
    private let tally = Mutex(RefusalTally())
    private let database: PGPool
    private let window: Duration
    private let logger: Logger

    init(database: PGPool, window: Duration, logger: Logger) {
        self.database = database
        self.window = window
        self.logger = logger
    }

    /// Counts a refusal (`AuditEntry.refused`).
    func refused(_ entry: AuditEntry) {
        let now = Date()
        tally.withLock { $0.count(entry, at: now) }
    }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try? await Task.sleep(for: self.window)
                await self.flush()
            }
        }
        await flush()
    }

    /// Writes what was counted since the last flush.
    func flush() async {
        let rows = tally.withLock { $0.take() }
        guard !rows.isEmpty else { return }
        do {
            try await database.withConnection { try AuditStore.append(rows, on: $0) }
        } catch {
            logger.warning(
                "refusals not written to the audit trail; counting them for the next window",
                metadata: [
                    "audit.rows": "\(rows.count)", "error": "\(error)",
                ])
            tally.withLock { tally in
                for row in rows { tally.count(row, at: row.at ?? Date(), times: row.count) }
            }
        }
    }
}
