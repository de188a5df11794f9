import Logging
import Synchronization

/// Whether the daemon is doing its work, as the sum of its parts: it says `ready` (and `READY=1` to systemd) only
/// once every consumer is attached, and reports each later change (a consumer paused while the database is away,
/// resumed when it is back) in the log and in systemd's status line.
final class Readiness: Sendable {
    private let logger: Logger
    private let systemd: SystemdNotifier
    private let readyMetadata: Logger.Metadata
    private let state: Mutex<State>
    /// Every part, in the order given.
    let parts: [String]

    private struct State {
        /// Why each part is not ready; nil once it is.
        var waiting: [String: String]
        var announced = false
    }

    /// - Parameters:
    ///   - parts: every part that must report ready before the daemon is.
    ///   - readyMetadata: logged with the first `ready` line.
    init(parts: [String], logger: Logger, systemd: SystemdNotifier, readyMetadata: Logger.Metadata) {
        self.logger = logger
        self.systemd = systemd
        self.readyMetadata = readyMetadata
        self.parts = parts
        state = Mutex(State(waiting: Dictionary(uniqueKeysWithValues: parts.map { ($0, "starting") })))
    }

    /// The part is doing its work.
    func ready(_ part: String) {
        let (first, again) = state.withLock { state -> (Bool, Bool) in
            guard state.waiting.removeValue(forKey: part) != nil, state.waiting.isEmpty else { return (false, false) }
            defer { state.announced = true }
            return (!state.announced, state.announced)
        }
        if first {
            logger.info("ready", metadata: readyMetadata)
            systemd.ready()
            systemd.status("ready")
        } else if again {
            logger.notice("every part is working again")
            systemd.status("ready")
        }
    }

    /// The part stopped doing its work, for `reason` (safe to log).
    func notReady(_ part: String, reason: String) {
        let changed = state.withLock { state in
            defer { state.waiting[part] = reason }
            return state.waiting[part] != reason
        }
        guard changed else { return }
        logger.warning("degraded", metadata: ["part": "\(part)", "reason": "\(reason)"])
        systemd.status("degraded: \(part): \(reason)")
    }

    var isReady: Bool { state.withLock { $0.waiting.isEmpty } }

    /// Why each part that is not ready is not.
    var waiting: [String: String] { state.withLock { $0.waiting } }
}
