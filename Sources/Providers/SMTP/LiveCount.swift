import Synchronization

/// How many of something are alive, counted from any thread (a handler's `deinit` runs wherever its last
/// reference goes): the SMTP pool's session handlers, which must all be freed once their sessions end.
final class LiveCount: Sendable {
    private let count = Atomic(0)

    func add(_ delta: Int) { count.add(delta, ordering: .relaxed) }

    var value: Int { count.load(ordering: .relaxed) }
}
