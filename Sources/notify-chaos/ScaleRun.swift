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

    func run() async throws {
        for count in daemons {
            let rig = try await ChaosRig(cluster, daemons: count)
            let load = try LoadGenerator(cluster, exchange: rig.slot.exchange, tag: rig.tag, users: ChaosRig.users, logger: rig.logger)
            let sampler = ProgressSampler()
            sampler.start(rig, load)
            let started = sampler.now
            try await load.run(0..<events, rate: 0)
            let published = sampler.now
            let settled = await Checker.waitUntilSettled(rig, load, timeout: .seconds(600))
            let ended = sampler.now
            sampler.stop()
            let stored = sampler.firstTime(\.stored, reaching: load.confirmed.filter { LoadGenerator.kind($0) == .payment }.count) ?? ended
            let verdict = try await Checker.judge(rig, load)
            await load.close()
            report(verdict.line("scale-\(count)"))
            report(String(format: "RESULT scale_%d_daemons_publish %.0f events/s", count, Double(events) / (published - started)))
            report(String(format: "RESULT scale_%d_daemons_ingest %.0f events/s", count, Double(events) / (stored - started)))
            report(String(format: "RESULT scale_%d_daemons_end_to_end %.0f events/s%@", count, Double(events) / (ended - started), settled ? "" : " (NOT SETTLED)"))
            report(String(format: "RESULT scale_%d_daemons_peak_rss %.0f MB", count, rig.peakRSSMegabytes))
            await rig.tearDown()
        }
    }
}
