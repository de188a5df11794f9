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
/// `Retry-After`), so many large bodies at once cost at most the budget, however many connections bring them.
public struct BodyBudget: Sendable, Equatable {
    public let capacity: Int
    public private(set) var reserved = 0

    public init(capacity: Int) {
        self.capacity = capacity
    }

    /// Takes `bytes` when they fit within what is left; false, and nothing taken, when they do not.
    public mutating func reserve(_ bytes: Int) -> Bool {
        guard bytes >= 0, bytes <= capacity - reserved else { return false }
        reserved += bytes
        return true
    }

    /// Gives back what `reserve` took.
    public mutating func release(_ bytes: Int) {
        reserved = max(0, reserved - bytes)
    }
}
