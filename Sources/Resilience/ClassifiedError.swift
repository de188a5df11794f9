/// The shape of the errors of the AMQP and PostgreSQL clients (and whatever client comes next).
///
/// - `description` is generic and safe to log: a code, the protocol's own status (reply code, SQLSTATE) and a
///   reason this package wrote or a server's primary message known to carry no values. It never carries a
///   payload, a parameter value or a credential.
/// - `debugDescription` adds `detail` (what a server said in full, which may quote values): for a developer at a
///   debugger, never for logs.
/// - `isRetriable` is the one place that decides whether the same work may succeed if tried again.
public protocol ClassifiedError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    var isRetriable: Bool { get }
    /// Everything known about the failure, which may include values; nil when `description` is all there is.
    var detail: String? { get }
}

extension ClassifiedError {
    public var debugDescription: String {
        guard let detail, !detail.isEmpty else { return description }
        return "\(description) — \(detail)"
    }
}

/// A code from a small, extensible set, one set per error type (`Domain`): compared by name, printed as it.
public struct ErrorCode<Domain>: Sendable, Hashable, CustomStringConvertible {
    private let name: String
    public init(_ name: String) { self.name = name }
    public var description: String { name }
}
