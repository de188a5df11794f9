import ArgumentParser
import Foundation

/// The faults `make chaos` injects under load, one per run, each judged by the checker.
enum Scenario: String, CaseIterable, ExpressibleByArgument {
    /// No fault: the reference for the recovery times.
    case baseline
    /// SIGKILL of one daemon of three, not restarted: the others take over its unacked messages.
    case killDaemon = "kill-daemon"
    /// `kill -9` of the RabbitMQ node leading the events queue (where the queues' leaders are), started again
    /// after the run is judged.
    case killLeader = "kill-leader"
    /// That node stopped cleanly (leadership handed over), and started again 15 s later: it rejoins under load.
    case restartNode = "restart-node"
    /// The SMTP server gone for 60 s: breakers open, sends wait with their attempts unspent, then drain.
    case smtpDown = "smtp-down"
    /// Daemon 1 cut off from its broker node for 30 s without a FIN or RST (the loopback proxy's black hole).
    case blackHole = "black-hole"
    /// The PostgreSQL primary stopped (immediate) and the replica promoted: the daemons' multi-host URL with
    /// `target_session_attrs=read-write` finds it. The cluster's PostgreSQL is rebuilt afterwards (`pg-reset`).
    case promoteReplica = "promote-replica"

    var cutsOffFirstDaemon: Bool { self == .blackHole }

    /// Breaks what the scenario breaks; returns once its window is over. A wait cut short by cancellation still
    /// ends with what was stopped started again.
    func inject(_ rig: ChaosRig) async throws {
        let options = rig.options
        switch self {
        case .baseline:
            return
        case .killDaemon:
            await rig.kill(1)
        case .killLeader:
            let node = options.leader(of: rig.slot.eventsQueue) ?? 1
            report("  kill -9 node \(node) (leads \(rig.slot.eventsQueue))")
            options.control("kill-node", String(node))
        case .restartNode:
            let node = options.leader(of: rig.slot.eventsQueue) ?? 1
            report("  stop node \(node) (leads \(rig.slot.eventsQueue)); start it again in 15 s")
            options.control("stop-node", String(node))
            try? await Task.sleep(for: .seconds(15))
            options.control("start-node", String(node))
        case .smtpDown:
            try await rig.smtpOutage(seconds: 60)
        case .blackHole:
            await rig.blackHole(seconds: 30)
        case .promoteReplica:
            options.control("pg-stop-primary")
            try? await Task.sleep(for: .seconds(2))
            options.control("pg-promote")
        }
    }

    /// Puts the cluster back as the next scenario expects it.
    func repair(_ options: ClusterOptions) {
        switch self {
        case .killLeader, .restartNode: options.startEveryNode()
        case .promoteReplica: options.control("pg-reset")
        default: break
        }
    }
}
