/// When a claim counts as abandoned. A worker holds its deliveries `sending` from its claim to its record, and a
/// batch it hands back unrecorded (a retry copy not confirmed, a shutdown) it releases at once
/// (`DeliveryStore.release`). A release the database did not take leaves the delivery `sending` under a claimer
/// whose connection is still alive, which every later claim skips; its job, when it comes back, is kept
/// (`redelivered_jobs`) instead of dropped. The sweeper makes such a delivery claimable again once it has been
/// `sending` for `staleAfterSeconds`, and publishes the kept job through the outbox.
public struct ClaimSweep: Sendable, Equatable {
    /// How long a delivery may be `sending` before its claim counts as abandoned.
    public var staleAfterSeconds = 1800
    /// How often each daemon sweeps.
    public var intervalSeconds = 60
    /// Deliveries swept per round at most (the rest wait for the next round).
    public var batchSize = 500

    public init() {}

    /// What a live worker may add to its holds while it has a claim: a send (bounded by its provider's timeouts), a
    /// park that waits out a broker alarm, and the record.
    public static let allowanceSeconds = 300

    /// The shortest `staleAfterSeconds` that never sweeps a claim a live worker is still working on: longer than it
    /// holds a batch for a provider that is down (`delivery.maxProviderHoldSeconds`), plus the longest wait for a
    /// rate-limit slot (`delivery.maxPacingWaitSeconds`), plus `allowanceSeconds`. A shorter bound could send a
    /// delivery twice: once by the sweep's job, once by the worker that still held it.
    public static func minimumStaleSeconds(maxProviderHoldSeconds: Int, maxPacingWaitSeconds: Int) -> Int {
        maxProviderHoldSeconds + maxPacingWaitSeconds + allowanceSeconds
    }
}
