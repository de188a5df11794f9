import ArgumentParser
import Foundation
import NotifyStore
import Postgres
import StackSupport

/// An hour (by default) at a steady rate on the cluster stack, with a fault every few minutes; every 10 s a CSV row
/// of throughput, latency p99, each daemon's RSS, lane ages and depths, and the database's size; at the end the
/// checker's verdict and the criteria: each daemon's RSS slope over the second half at most `maxRSSSlope` (the run
/// fails otherwise, as it does on a verdict that is not clean), and lane ages outside fault windows (reported).
struct SoakRun: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "soak", abstract: "A long steady run with faults, sampled to CSV.")
    @OptionGroup var cluster: ClusterOptions
    @Option(help: "Minutes of load.") var minutes = 60.0
    @Option(help: "Events per second.") var rate = 400.0
    @Option(help: "Seconds between faults (0: none).") var faultEvery = 300.0
    @Option(help: "MALLOC_ARENA_MAX for the third daemon alone (0: glibc's default, as for the others), so one run compares the two.")
    var thirdDaemonArenas = 0
    @Option(help: "Where soak.csv goes.") var output = repositoryRoot.appendingPathComponent(".stack/soak").path

    /// The faults a soak cycles through; each leaves the cluster as it found it (killed things are started again).
    enum Fault: String, CaseIterable {
        case killDaemon = "kill-daemon", killNode = "kill-node", smtpDown = "smtp-down", blackHole = "black-hole"
    }

    /// After a fault ends, how long lanes may still be draining its backlog before their age counts again.
    static let recoveryAllowance = 60.0

    /// The most any daemon's RSS may grow over the second half of the run, in MB per hour (least squares).
    static let maxRSSSlope = 2.0

    func run() async throws {
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        let csvPath = output + "/soak.csv"
        guard FileManager.default.createFile(atPath: csvPath, contents: nil) else { throw SupportFailure("cannot write \(csvPath)") }
        let csv = try FileHandle(forWritingTo: URL(fileURLWithPath: csvPath))
        let arenas = thirdDaemonArenas > 0 ? ["MALLOC_ARENA_MAX": String(thirdDaemonArenas)] : [:]
        let rig = try await ChaosRig(cluster, daemons: 3, proxyFirstDaemon: true, lastDaemonEnvironment: arenas)
        let load = try LoadGenerator(cluster, exchange: rig.slot.exchange, tag: rig.tag, users: ChaosRig.users, logger: rig.logger)
        let events = Int(minutes * 60 * rate)
        let started = Date().timeIntervalSince1970
        let faults = FaultLog()
        report(
            "soak: \(events) events at \(Int(rate))/s for \(minutes) min, a fault every \(Int(faultEvery)) s; CSV \(csvPath)"
                + (arenas.isEmpty ? "" : "; daemon 3 with MALLOC_ARENA_MAX=\(thirdDaemonArenas)"))
        try csv.write(
            contentsOf: Data(
                "t,confirmed,stored,emails,throughput,latency_p99_ms,rss1_mb,rss2_mb,rss3_mb,lane_high_age_s,lane_normal_age_s,lane_low_age_s,lane_depth,db_mb,fault,pid1,pid2,pid3\n"
                    .utf8))

        let sampler = Task {
            var (stored, last) = (0, started)
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(10))
                let now = Date().timeIntervalSince1970
                // Notifications stored since the last row; while the database is away, the next row catches up.
                guard let window = try? await Self.window(rig, since: last) else { continue }
                var latencies = window.compactMap { (index, at) in load.publishTime(index).map { (at - $0) * 1000 } }.sorted()
                if latencies.isEmpty { latencies = [0] }
                stored += window.count
                let lanes = Self.laneState(rig)
                let size = (try? await rig.db.withConnection { try Census.databaseBytes(on: $0) }) ?? 0
                let rss = rig.daemons.map { String(format: "%.1f", $0.residentMegabytes) }
                let row =
                    [
                        String(format: "%.0f", now - started), String(load.confirmedCount), String(stored), String(rig.smtp.received),
                        String(format: "%.0f", Double(window.count) / (now - last)),
                        String(format: "%.0f", latencies[min(latencies.count - 1, latencies.count * 99 / 100)]),
                    ]
                    + rss + lanes.ages.map { String(format: "%.1f", $0) } + [
                        String(lanes.depth), String(size / 1_048_576), faults.active(at: now - started) ?? "",
                    ]
                    + rig.daemons.map { String($0.pid) }
                try? csv.write(contentsOf: Data((row.joined(separator: ",") + "\n").utf8))
                last = now
            }
        }
        let injector = Task {
            guard faultEvery > 0 else { return }
            var next = 0
            while !Task.isCancelled {
                try await Task.sleep(for: .seconds(faultEvery))
                let fault = Fault.allCases[next % Fault.allCases.count]
                next += 1
                let from = Date().timeIntervalSince1970 - started
                report(String(format: "  %.0f s: %@", from, fault.rawValue))
                faults.begin(fault.rawValue, at: from)
                try await Self.inject(fault, rig)
                faults.end(at: Date().timeIntervalSince1970 - started + Self.recoveryAllowance)
            }
        }
        try await load.run(0..<events, rate: rate)
        injector.cancel()
        _ = await injector.result
        cluster.startEveryNode()
        rig.proxy?.restore()
        let settled = await Checker.waitUntilSettled(rig, load, timeout: .seconds(600))
        try? await Task.sleep(for: .seconds(10))
        sampler.cancel()
        _ = await sampler.result  // its last row written before the file is closed
        try csv.close()
        let verdict = try await Checker.judge(rig, load)
        await load.close()
        report(verdict.line("soak") + (settled ? "" : " (NOT SETTLED)"))
        for example in verdict.examples { report("  \(example)") }
        let (criteria, memoryHeld) = try Self.criteria(csvPath)
        report(criteria)
        await rig.tearDown()
        if !verdict.clean || !memoryHeld { throw ExitCode.failure }
    }

    /// Breaks, waits, repairs. A wait cut short (the load has ended) cuts the fault short: the repair always runs.
    private static func inject(_ fault: Fault, _ rig: ChaosRig) async throws {
        switch fault {
        case .killDaemon:
            // As systemd would: Restart=on-failure, RestartSec=5.
            await rig.kill(1)
            try? await Task.sleep(for: .seconds(5))
            try await rig.restart(1)
        case .killNode:
            let node = rig.options.leader(of: rig.slot.eventsQueue) ?? 1
            rig.options.control("kill-node", String(node))
            try? await Task.sleep(for: .seconds(30))
            rig.options.control("start-node", String(node))
        case .smtpDown:
            try await rig.smtpOutage(seconds: 60)
        case .blackHole:
            await rig.blackHole(seconds: 30)
        }
    }

    /// Notifications stored since `since`: (event index, when stored).
    private static func window(_ rig: ChaosRig, since: Double) async throws -> [(index: Int, at: Double)] {
        let prefix = rig.tag + "-e"
        return try await rig.db.withConnection { try Census.stored(since: since, keysPrefixed: prefix, on: $0) }
    }

    /// The oldest job's age per lane (the highest any daemon reports) and the lanes' total depth, from `/metrics`.
    private static func laneState(_ rig: ChaosRig) -> (ages: [Double], depth: Int) {
        var ages = [0.0, 0.0, 0.0]
        var depth = 0.0
        for index in rig.daemons.indices {
            for line in scrape(port: rig.httpPort(index)).split(separator: "\n") where !line.hasPrefix("#") {
                let parts = line.split(separator: " ")
                guard parts.count == 2, let value = Double(parts[1]) else { continue }
                for (lane, name) in ["high", "normal", "low"].enumerated() where parts[0].contains("lane=\"\(name)\"") {
                    if parts[0].hasPrefix("notify_lane_oldest_age_seconds") { ages[lane] = max(ages[lane], value) }
                    if parts[0].hasPrefix("notify_lane_depth"), index == 0 { depth += value }
                }
            }
        }
        return (ages, Int(depth))
    }

    private static func scrape(port: Int) -> String {
        let curl = Process()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "--max-time", "3", "http://127.0.0.1:\(port)/metrics"]
        return (try? runCapturingOutput(curl).text) ?? ""
    }

    /// The criteria, judged from the CSV: the RSS trend over the second half of the run (least squares, MB per hour)
    /// of each daemon that ran throughout, which holds when no slope is above `maxRSSSlope`; for a daemon restarted by
    /// the kill-daemon fault, the peak of its lives begun in the second half within 5% of those begun in the first (a
    /// slope across restarts measures warm-ups); and every row outside a fault window with all lanes younger than
    /// 5 s. Too few samples to judge do not hold.
    static func criteria(_ path: String) throws -> (report: String, memoryHeld: Bool) {
        let rows = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").dropFirst().map {
            $0.split(separator: ",", omittingEmptySubsequences: false)
        }
        guard rows.count >= 4 else { return ("soak criteria: too few samples to judge memory", false) }
        let half = rows.suffix(rows.count / 2)
        var judged: [String] = []
        var held = true
        for daemon in 0..<3 {
            let (rss, pid) = (6 + daemon, 15 + daemon)
            let points = half.compactMap { row -> (Double, Double)? in
                guard let t = Double(row[0]), let value = Double(row[rss]), value > 0 else { return nil }
                return (t / 3600, value)
            }
            let incarnations = Set(rows.compactMap { $0.count > pid ? $0[pid] : nil })
            if incarnations.count > 1 {
                // Restarted (the kill-daemon fault): a slope across restarts measures warm-ups, not a leak. Its
                // lives' peaks are judged instead: those begun in the second half within 5% of those of the first.
                guard let peaks = Self.peaks(rows, rss: rss, pid: pid) else {
                    // No life begun in each half (a run too short for its faults): not judged, so not held.
                    held = false
                    judged.append("restarted \(incarnations.count - 1) times, no life begun in each half to compare (not held)")
                    continue
                }
                let ok = peaks.second <= peaks.first * 1.05
                held = held && ok
                judged.append(
                    String(
                        format: "restarted %d times, peak %.1f MB in the first half's lives, %.1f in the second's%@",
                        incarnations.count - 1, peaks.first, peaks.second, ok ? "" : " (grew)"))
            } else {
                let slope = Self.slope(points)
                held = held && slope <= maxRSSSlope
                judged.append(String(format: "%+.1f MB/h", slope))
            }
        }
        let quiet = rows.filter { $0[14].isEmpty }
        let late = quiet.filter { row in (9...11).contains { (Double(row[$0]) ?? 0) > 5 } }
        let maxAge = quiet.flatMap { row in (9...11).map { Double(row[$0]) ?? 0 } }.max() ?? 0
        let memory = String(
            format: "RSS over the second half: %@ (slope at most %.0f MB/h: %@)",
            judged.joined(separator: "; "), maxRSSSlope, held ? "met" : "NOT MET")
        let lanes = String(format: "lane age outside faults max %.1f s, %d of %d samples above 5 s", maxAge, late.count, quiet.count)
        return ("soak criteria: \(memory); \(lanes)", held)
    }

    /// Least squares: MB per hour over `points` (hours, MB).
    static func slope(_ points: [(Double, Double)]) -> Double {
        let n = Double(points.count)
        guard n > 1 else { return 0 }
        let (mx, my) = (points.map(\.0).reduce(0, +) / n, points.map(\.1).reduce(0, +) / n)
        let sxx = points.map { ($0.0 - mx) * ($0.0 - mx) }.reduce(0, +)
        return sxx > 0 ? points.map { ($0.0 - mx) * ($0.1 - my) }.reduce(0, +) / sxx : 0
    }

    /// The highest RSS of the incarnations (runs of rows with one pid) that started in the first half of the run, and
    /// of those that started in the second: a daemon that leaks peaks higher in each life.
    static func peaks(_ rows: [[Substring]], rss: Int, pid: Int) -> (first: Double, second: Double)? {
        var runs: [(pid: Substring, start: Double, peak: Double)] = []
        for row in rows where row.count > pid {
            let value = Double(row[rss]) ?? 0
            if runs.last?.pid == row[pid] {
                runs[runs.count - 1].peak = max(runs[runs.count - 1].peak, value)
            } else {
                runs.append((row[pid], Double(row[0]) ?? 0, value))
            }
        }
        guard let end = rows.last.flatMap({ Double($0[0]) }) else { return nil }
        let first = runs.filter { $0.start < end / 2 }.map(\.peak).max()
        let second = runs.filter { $0.start >= end / 2 }.map(\.peak).max()
        guard let first, let second else { return nil }
        return (first, second)
    }
}

/// The fault windows so far (seconds since the start), each with its recovery allowance; one at a time.
final class FaultLog: @unchecked Sendable {
    private let lock = NSLock()
    private var windows: [(name: String, from: Double, to: Double)] = []

    func begin(_ name: String, at t: Double) { lock.withLock { windows.append((name, t, .infinity)) } }
    func end(at t: Double) { lock.withLock { if !windows.isEmpty { windows[windows.count - 1].to = t } } }

    /// The fault whose window covers `t`.
    func active(at t: Double) -> String? { lock.withLock { windows.last { $0.from <= t && t <= $0.to }?.name } }
}
