import StackSupport
import Testing

extension Trait where Self == ConditionTrait {
    /// On every suite here: without the stack's environment the suite is skipped with this message, not failed.
    static var needsPostgreSQL: Self {
        .enabled(
            if: StackURLs.hasTestPostgres,
            "needs the local stack's PostgreSQL: run `make test`, or `make stack-up` and `eval \"$(deploy/dev/stack env)\"` first")
    }
}
