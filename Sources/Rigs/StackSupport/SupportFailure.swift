/// Why a test helper or a benchmark could not go on (a stack that does not answer, a count that never came):
/// one line, written by the helper, never carrying a payload or a secret.
public struct SupportFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
