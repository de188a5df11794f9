import Foundation

/// Refused commands counted between two writes of the audit trail: one row per caller and kind of refusal per window,
/// carrying how many there were, so that a flood of refusals (a stranger's ten thousand keyless calls) costs a few
/// rows and no database work per request. A caller is its key once the key authenticated, else `anonymous` with the
/// address it came from (over HTTP) or nothing (over the broker); a kind is the command and the status. At most
/// `capacity` (caller, kind) pairs are told apart in a window, and of them at most `anonymousCapacity` anonymous
/// ones (a stranger with many addresses would otherwise write a thousand rows a minute, kept as long as the audit
/// trail): past them, refusals are counted in one row that names nobody, so the tally's memory and the rows it
/// writes are bounded whatever the callers send.
public struct RefusalTally: Sendable {
    /// What tells two refusals apart.
    private struct Kind: Hashable {
        var actor: String
        var clientAddress: String?
        var action: String
        var outcome: String
    }

    /// The most (caller, kind) pairs one window tells apart.
    public let capacity: Int
    /// Of those, the most whose caller is anonymous.
    public let anonymousCapacity: Int
    private var anonymousRows = 0
    /// The longest reason kept; the rest of a longer one is cut.
    public static let maxDetailLength = 200
    /// The first refusal of each kind (its time, reason and request id) with the count, in the order first seen.
    private var rows: [AuditEntry] = []
    private var index: [Kind: Int] = [:]
    private var others: AuditEntry?

    public init(capacity: Int = 1_000, anonymousCapacity: Int = 100) {
        self.capacity = capacity
        self.anonymousCapacity = min(anonymousCapacity, capacity)
    }

    /// Whether nothing was counted since the last `take`.
    public var isEmpty: Bool { rows.isEmpty && others == nil }

    /// Counts `refusal` (as `AuditEntry.refused` makes it), which happened at `time`, `times` times (more than once
    /// for a row taken earlier and not written).
    public mutating func count(_ refusal: AuditEntry, at time: Date, times: Int = 1) {
        let kind = Kind(actor: refusal.actor, clientAddress: refusal.clientAddress, action: refusal.action, outcome: refusal.outcome)
        let anonymous = refusal.actor == "anonymous"
        if let position = index[kind] {
            rows[position].count += times
        } else if rows.count < capacity, !anonymous || anonymousRows < anonymousCapacity {
            if anonymous { anonymousRows += 1 }
            var first = refusal
            first.at = time
            first.count = times
            first.detail = refusal.detail.map { String($0.prefix(Self.maxDetailLength)) }
            index[kind] = rows.count
            rows.append(first)
        } else if others != nil {
            others?.count += times
        } else {
            var row = AuditEntry(
                actor: "anonymous", tenant: nil, entity: "command:*", action: "*", outcome: "refused:*",
                detail:
                    "refusals past the callers and kinds told apart in one window (\(capacity), \(anonymousCapacity) of them anonymous), counted together"
            )
            row.at = time
            row.count = times
            others = row
        }
    }

    /// The rows for what was counted since the last call, each with its count and its first refusal's time, reason
    /// and request id; the tally starts over empty.
    public mutating func take() -> [AuditEntry] {
        defer {
            rows = []
            index = [:]
            others = nil
            anonymousRows = 0
        }
        return rows + (others.map { [$0] } ?? [])
    }
}
