/// What a request's head says its body will cost, decided before a byte of the body is read: nothing, a reservation of
/// its declared length (or of the limit, when it is chunked and says none), or a refusal (413) of a length past the
/// limit.
public enum BodyPlan: Sendable, Equatable {
    /// No body: nothing to reserve, nothing to read.
    case none
    /// Reserve this many bytes of the budget, then read at most that many.
    case reserve(Int)
    /// The declared length is past the limit.
    case tooLarge(declared: Int)

    /// `contentLength` as the HTTP parser read it (nil when absent); `chunked` when the body comes in chunks of
    /// unknown total.
    public init(contentLength: Int?, chunked: Bool, limit: Int) {
        if let contentLength, !chunked {
            if contentLength > limit {
                self = .tooLarge(declared: contentLength)
            } else {
                self = contentLength == 0 ? .none : .reserve(contentLength)
            }
        } else {
            self = chunked ? .reserve(limit) : .none
        }
    }

    /// Whether a body will follow the head: a request answered before it was read must close its connection.
    public var hasBody: Bool { self != .none }
}

/// Bytes of request bodies held at once, across every request of a listener. A request reserves what its body may
/// take before any of it is read and gives it back once answered; one that does not fit is refused unread (503 with
/// `Retry-After`), so many large bodies at once cost at most the budget, however many connections bring them. One
/// caller (a key, or an address where no key is asked) holds at most `perCaller` of it, so one caller's slow bodies
/// cannot spend the budget every other caller needs.
public struct BodyBudget: Sendable, Equatable {
    public let capacity: Int
    public let perCaller: Int
    public private(set) var reserved = 0
    /// What each caller holds now; a caller holding nothing has no entry, so there are at most as many entries as
    /// requests in flight.
    private var held: [String: Int] = [:]

    public init(capacity: Int, perCaller: Int? = nil) {
        self.capacity = capacity
        self.perCaller = perCaller ?? capacity
    }

    /// Takes `bytes` for `caller` when they fit within what is left, and within what `caller` may hold; false, and
    /// nothing taken, when they do not.
    public mutating func reserve(_ bytes: Int, for caller: String) -> Bool {
        let holding = held[caller, default: 0]
        guard bytes >= 0, bytes <= capacity - reserved, bytes <= perCaller - holding else { return false }
        reserved += bytes
        held[caller] = holding + bytes
        return true
    }

    /// Gives back what `reserve` took for `caller`.
    public mutating func release(_ bytes: Int, for caller: String) {
        reserved = max(0, reserved - bytes)
        let left = held[caller, default: 0] - bytes
        held[caller] = left > 0 ? left : nil
    }

    /// How many callers hold part of the budget now.
    public var callers: Int { held.count }
}
