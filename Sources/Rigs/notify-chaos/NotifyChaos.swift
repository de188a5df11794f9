import ArgumentParser
import Foundation

/// `notify-chaos`: several release daemons on the cluster stack (`deploy/dev/cluster`), load with confirms, faults
/// under it, and a checker that counts lost and duplicated effects (`make chaos`); the daemons' throughput by
/// count (`scale`); an hour at a steady rate with faults every few minutes (`make soak`).
@main
struct NotifyChaos: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-chaos", abstract: "Faults under load on the cluster stack, judged by a checker.",
        subcommands: [ChaosRun.self, ScaleRun.self, SoakRun.self], defaultSubcommand: ChaosRun.self)
}

struct ChaosRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Every scenario (or those named), each ending with its checker line.")
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Scenarios to run: \(Scenario.allCases.map(\.rawValue).joined(separator: ", ")).")
    var scenario: [Scenario] = Scenario.allCases
    @Option(help: "Events per scenario (nine in ten payments, every tenth an inventory adjustment).") var events = 12_000
    @Option(help: "Events published per second.") var rate = 400.0
    @Option(help: "Daemons sharing the work.") var daemons = 3
    @Option(help: "Seconds to wait for every effect after the load before judging.") var settleSeconds = 300

    func run() async throws {
        var lines: [String] = []
        var clean = true
        for scenario in scenario {
            report("scenario \(scenario.rawValue): \(events) events at \(Int(rate))/s, \(daemons) daemons")
            let rig = try await ChaosRig(cluster, daemons: daemons, proxyFirstDaemon: scenario.cutsOffFirstDaemon)
            // Whatever happens, the slot goes and the cluster is put back for the next scenario.
            defer { scenario.repair(cluster) }
            let verdict: Verdict
            do {
                verdict = try await run(scenario, on: rig)
            } catch {
                await rig.tearDown()
                throw error
            }
            await rig.tearDown()
            lines.append(verdict.line(scenario.rawValue))
            clean = clean && verdict.clean
        }
        report("\nchecker summary")
        for line in lines { report(line) }
        if !clean { throw ExitCode.failure }
    }

    /// Load, the fault a third of the way in, the wait for every effect, the verdict and the recovery figures.
    private func run(_ scenario: Scenario, on rig: ChaosRig) async throws -> Verdict {
        let load = try LoadGenerator(cluster, exchange: rig.slot.exchange, tag: rig.tag, users: ChaosRig.users, logger: rig.logger)
        let sampler = ProgressSampler()
        sampler.start(rig, load)
        let started = sampler.now
        async let fault: Double = {
            while load.confirmedCount < events / 3 { try await Task.sleep(for: .milliseconds(100)) }
            let at = sampler.now
            try await scenario.inject(rig)
            return at
        }()
        try await load.run(0..<events, rate: rate)
        let published = sampler.now
        // Effects may all be in before the fault's window is over (a node still restarting): that counts.
        let settled = await Checker.waitUntilSettled(rig, load, timeout: .seconds(settleSeconds))
        let drained = sampler.now
        let faultAt = try await fault
        sampler.stop()
        let verdict = try await Checker.judge(rig, load)
        await load.close()
        report(verdict.line(scenario.rawValue))
        report(
            String(
                format:
                    "  recovery: ingestion stalled %.1f s, email stalled %.1f s after the fault; load %.0f s, every effect in %.0f s after it%@; peak RSS %.0f MB; publisher retries %d",
                sampler.longestStall(after: faultAt, \.stored), sampler.longestStall(after: faultAt, \.emails),
                published - started, drained - published, settled ? "" : " (NOT SETTLED)", rig.peakRSSMegabytes, load.retries))
        for example in verdict.examples { report("  \(example)") }
        if scenario == .baseline {
            report(try await Growth.perMillionEvents(rig, events: events))
            report(Self.replication(of: rig))
        }
        if !verdict.clean {
            for (index, daemon) in rig.daemons.enumerated() { report("  daemon \(index) log tail:\n\(daemon.log.suffix(3000))") }
        }
        return verdict
    }

    /// Every queue of the slot, as `rabbitmqctl list_queues name type members` shows it: quorum, on every node.
    static func replication(of rig: ChaosRig) -> String {
        let queues = rig.options.queueReplicas(prefix: rig.slot.deliveryQueuePrefix)
        let odd = queues.filter { $0.type != "quorum" || $0.members != 3 }
        return "  queues: \(queues.count) declared, \(queues.count - odd.count) quorum on all 3 nodes"
            + odd.map { "; \($0.name): \($0.type) on \($0.members)" }.joined()
    }
}

/// Writes `line` to standard output at once (unbuffered: a run takes minutes and is usually piped to a log).
func report(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
