import StackSupport
import Testing

extension Trait where Self == ConditionTrait {
    /// On every suite here: without the stack's environment the suite is skipped with this message, not failed.
    static var needsStack: Self {
        .enabled(
            if: StackURLs.hasStack,
            "needs the local stack: run `make test`, or `make stack-up` and `eval \"$(deploy/dev/stack env)\"` first")
    }

    /// On the suites that run on the cluster stack (three RabbitMQ nodes, a PostgreSQL primary and replica).
    static var needsCluster: Self {
        .enabled(
            if: StackURLs.hasCluster,
            "needs the cluster stack: run `make test`, or `make cluster-up` and `eval \"$(deploy/dev/cluster test-env)\"` first")
    }
}
