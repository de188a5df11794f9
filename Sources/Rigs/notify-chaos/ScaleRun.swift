import ArgumentParser
import Foundation

/// Throughput by the number of daemons: for 1, 2 and 3 daemons on the cluster stack, events published as fast as
/// the broker confirms them, timed until every notification is stored (ingestion) and every email received (end
/// to end). On one machine the daemons share its cores with the broker nodes and PostgreSQL: the figures say what
/// scales and where the limit is.
struct ScaleRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "scale", abstract: "Throughput with 1, 2 and 3 daemons.")
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Events per run.") var events = 10_000
    @Option(parsing: .upToNextOption, help: "Daemon counts to measure.") var daemons: [Int] = [1, 2, 3]
    @Flag(
        help:
            "Publish every event first, with the daemons stopped, then start them: their capacity, without the publisher's share of the CPU."
    )
    var backlog = false

    func run() async throws {
        for count in daemons {
            let rig = try await ChaosRig(cluster, daemons: count)
            let load = try LoadGenerator(cluster, exchange: rig.slot.exchange, tag: rig.tag, users: ChaosRig.users, logger: rig.logger)
            let sampler = ProgressSampler()
            if backlog {
                for index in 0..<count { await rig.kill(index) }
                try await load.run(0..<events, rate: 0)
            }
            sampler.start(rig, load)
            let started = sampler.now
            if backlog {
                for index in 0..<count { try await rig.restart(index) }
            } else {
                try await load.run(0..<events, rate: 0)
            }
            let published = sampler.now
            let settled = await Checker.waitUntilSettled(rig, load, timeout: .seconds(600))
            let ended = sampler.now
            sampler.stop()
            let stored = sampler.firstTime(\.stored, reaching: load.confirmed.filter { LoadGenerator.kind($0) == .payment }.count) ?? ended
            let verdict = try await Checker.judge(rig, load)
            await load.close()
            let name = backlog ? "scale_\(count)_daemons_backlog" : "scale_\(count)_daemons"
            report(verdict.line(name))
            if !backlog { report(String(format: "RESULT %@_publish %.0f events/s", name, Double(events) / (published - started))) }
            report(String(format: "RESULT %@_ingest %.0f events/s", name, Double(events) / (stored - started)))
            report(
                String(
                    format: "RESULT %@_end_to_end %.0f events/s%@", name, Double(events) / (ended - started),
                    settled ? "" : " (NOT SETTLED)"))
            report(String(format: "RESULT %@_peak_rss %.0f MB", name, rig.peakRSSMegabytes))
            await rig.tearDown()
        }
    }
}
