/// How much one rendering of one template part may do, charged while it renders rather than measured afterwards: a
/// three-deep section over a list of a thousand would otherwise write a billion copies before any length check ran
/// (and pin the database thread it runs on). Every lookup and every list element is one step; every value costs its
/// rendered bytes and every element its section's body (`TemplateShape`). The first charge past either limit
/// exhausts the budget: from then on every lookup finds nothing and every list ends, so the renderer unwinds at once,
/// and the caller refuses the render naming the data field that was being used.
final class RenderBudget {
    /// Lookups and list elements one part may take; a real template over real data takes a few hundred.
    static let maxSteps = 50_000

    enum Limit: Sendable, Equatable {
        case bytes(Int)
        case steps(Int)
    }

    let shape: TemplateShape
    let maxBytes: Int
    let maxSteps: Int
    /// Whether values are HTML-escaped (an HTML part), which makes `&` five bytes and `"` six.
    let escapes: Bool
    private(set) var bytes = 0
    private(set) var steps = 0
    /// The field whose use passed a limit, and the limit; nil while the render is within its budget.
    private(set) var exhausted: (field: String, limit: Limit)?

    init(shape: TemplateShape, maxBytes: Int, maxSteps: Int = RenderBudget.maxSteps, escapes: Bool) {
        self.shape = shape
        self.maxBytes = maxBytes
        self.maxSteps = maxSteps
        self.escapes = escapes
    }

    /// Charges one step and `cost` bytes for using `field`; false once the budget is exhausted (by this charge or an
    /// earlier one). The sums cannot overflow: each stops one charge past a limit, and a charge is at most a value's
    /// size.
    func charge(_ cost: Int, field: String) -> Bool {
        guard exhausted == nil else { return false }
        steps += 1
        bytes += cost
        if steps > maxSteps {
            exhausted = (field, .steps(maxSteps))
        } else if bytes > maxBytes {
            exhausted = (field, .bytes(maxBytes))
        }
        return exhausted == nil
    }

    /// The bytes `text` renders to in this part.
    func cost(of text: String) -> Int {
        guard escapes else { return text.utf8.count }
        var cost = 0
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "&"), UInt8(ascii: "'"): cost += 5
            case UInt8(ascii: "\""): cost += 6
            case UInt8(ascii: "<"), UInt8(ascii: ">"): cost += 4
            default: cost += 1
            }
        }
        return cost
    }
}

/// What one request may spend rendering, across every part of every variant it renders. Each part has its own
/// `RenderBudget`, but a send to recipients of fifty languages renders up to fifty variants of eight parts each, and
/// fifty times eight budgets is tens of millions of steps on one database thread. Real requests spend a few thousand.
public final class RenderAllowance {
    public static let maxSteps = 200_000
    public static let maxBytes = 16 * 1024 * 1024

    private(set) var steps = 0
    private(set) var bytes = 0

    public init() {}

    var stepsLeft: Int { max(0, Self.maxSteps - steps) }
    var bytesLeft: Int { max(0, Self.maxBytes - bytes) }

    /// Charges what a part's render took (each at most one charge past what was left).
    func spend(steps: Int, bytes: Int) {
        self.steps += steps
        self.bytes += bytes
    }
}
