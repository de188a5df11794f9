import Logging
import ServiceLifecycle
import Synchronization

/// Feeds systemd's watchdog (`WatchdogSec=`) only while every probe keeps answering: the AMQP connection threads
/// pick up a command, the database threads run a step and the database answers. A thread stuck in a write the
/// broker never drains, or in a libpq call on a hung server, stops the feeding and systemd restarts the daemon.
/// Without `$WATCHDOG_USEC` (not under systemd, or no `WatchdogSec=`) it only waits for shutdown.
struct Watchdog: Service {
    let systemd: SystemdNotifier
    let probes: [Probe]
    let logger: Logger

    /// One liveness check. `check` may never return; `excused` says when that is expected (a connection the
    /// broker blocks during a resource alarm).
    final class Probe: Sendable {
        let name: String
        private let check: @Sendable () async -> Void
        private let excused: @Sendable () -> Bool
        /// When the check now running started; nil when none is running.
        private let running = Mutex<ContinuousClock.Instant?>(nil)

        init(_ name: String, excused: @escaping @Sendable () -> Bool = { false }, check: @escaping @Sendable () async -> Void) {
            self.name = name
            self.check = check
            self.excused = excused
        }

        /// False when the running check has taken longer than `limit`; otherwise starts a new one if none runs.
        func isAlive(limit: Duration) -> Bool {
            let now = ContinuousClock.now
            let startedAt: ContinuousClock.Instant? = running.withLock { running in
                if let running { return running }
                running = now
                return nil
            }
            guard let startedAt else {
                // Unstructured on purpose: a stuck check must not hold up the watchdog that reports it.
                Task { [self] in
                    await check()
                    running.withLock { $0 = nil }
                }
                return true
            }
            return now - startedAt < limit || excused()
        }
    }

    func run() async throws {
        guard let interval = systemd.watchdogInterval else {
            try? await gracefulShutdown()
            return
        }
        var stuck: Set<String> = []
        while !Task.isCancelledOrShuttingDown {
            let failing = probes.filter { !$0.isAlive(limit: interval / 2) }.map(\.name)
            if failing.isEmpty {
                systemd.watchdog()
                if !stuck.isEmpty { logger.notice("watchdog: every thread answers again") }
            } else if Set(failing) != stuck {
                logger.error(
                    "watchdog: not answering; systemd will restart the daemon if this lasts",
                    metadata: ["watchdog.stuck": "\(failing.joined(separator: ","))"])
            }
            stuck = Set(failing)
            try? await Task.sleep(for: interval / 4)
        }
    }
}
