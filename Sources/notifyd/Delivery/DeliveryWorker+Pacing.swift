import NotifyCore
import NotifyStore

/// The delivery worker's side of pacing (docs/architecture.md, "Pacing, not dropping"): the shared GCRA schedules
/// (`RateLimitStore`) it reserves slots of before a round's sends; the round decides what the waits come to.
extension DeliveryWorker {
    /// The per-recipient limit (`delivery.recipientLimitPerHour`): reserves a slot per job of each recipient on the
    /// round's channel, in one statement, and gives back those of the recipients the round defers. False when
    /// shutdown came while the database could not be asked.
    func paceRecipients(_ round: inout DeliveryRound, limit: RateLimit) async -> Bool {
        let requests = round.recipientSlots(limit: limit)
        guard let reserved = await reserve(requests) else { return false }
        let unused = round.paceRecipients(requests, reserved: reserved, provider: providers[round.channel]?.first?.name ?? "none")
        if !unused.isEmpty { try? await RateLimitStore.giveBack(unused, on: database) }
        return true
    }

    /// Reserves slots, asking again each second while the database cannot be asked (nothing is sent unpaced);
    /// nil when shutdown comes first.
    func reserve(_ requests: [SlotRequest]) async -> [String: SlotReservation]? {
        while true {
            do {
                return try await RateLimitStore.reserve(requests, on: database)
            } catch {
                logger.error("cannot reserve rate-limit slots; asking again", metadata: ["error": "\(error)"])
                if Task.isShuttingDownGracefully || Task.isCancelled { return nil }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }
}
