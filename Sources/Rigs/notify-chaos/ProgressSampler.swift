import Foundation
import NotifyStore
import Postgres

/// Samples, twice a second, how far the pipeline has got: payments confirmed by the broker, notifications stored,
/// emails received. From the series: how long the effects stopped flowing after a fault (its recovery time).
final class ProgressSampler: @unchecked Sendable {
    struct Sample {
        var at: Double
        var confirmed: Int
        var stored: Int
        var emails: Int
    }

    fileprivate let lock = NSLock()
    fileprivate var samples: [Sample] = []
    private var task: Task<Void, Never>?
    private let started = ContinuousClock.now

    /// Seconds since the sampler started: the time axis of every figure it gives.
    var now: Double { (ContinuousClock.now - started).seconds }

    func start(_ rig: ChaosRig, _ load: LoadGenerator) {
        let tag = rig.tag
        task = Task { [self] in
            var stored = 0
            while !Task.isCancelled {
                let confirmed = load.confirmed.filter { LoadGenerator.kind($0) == .payment }.count
                // While the database is away (a promotion) the last count stands: that is the stall being measured.
                if let count = try? await rig.db.withConnection({ try Census.notifications(usersPrefixed: tag + "-", on: $0) }) {
                    stored = count
                }
                let sample = Sample(at: now, confirmed: confirmed, stored: stored, emails: rig.smtp.received)
                lock.withLock { samples.append(sample) }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    func stop() { task?.cancel() }

    /// The longest time after `fault` (sampler seconds) during which `progress` did not move although work was
    /// waiting (fewer effects than confirmed payments).
    func longestStall(after fault: Double, _ progress: KeyPath<Sample, Int>) -> Double {
        let series = lock.withLock { samples.filter { $0.at >= fault } }
        var longest = 0.0
        var stalledSince: Double?
        var (last, lastAt) = (series.first?[keyPath: progress] ?? 0, series.first?.at ?? fault)
        for sample in series {
            let value = sample[keyPath: progress]
            if value > last || value >= sample.confirmed {
                stalledSince = nil
            } else if stalledSince == nil {
                stalledSince = lastAt  // it last moved at the sample before
            }
            if let since = stalledSince { longest = max(longest, sample.at - since) }
            (last, lastAt) = (value, sample.at)
        }
        return longest
    }
}

extension ProgressSampler {
    /// When `progress` first reached `target` (sampler seconds).
    func firstTime(_ progress: KeyPath<Sample, Int>, reaching target: Int) -> Double? {
        lock.withLock { samples.first { $0[keyPath: progress] >= target }?.at }
    }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}
