import ServiceLifecycle

/// Runs `operation`; when graceful shutdown begins, runs `action` (typically: cancel the consumer, so the
/// operation drains what it holds and returns). Structured: no task outlives this call.
func withShutdownAction<Result: Sendable>(
    _ action: @escaping @Sendable () async -> Void, operation: () async -> Result
) async -> Result {
    await withTaskGroup(of: Void.self) { group in
        group.addTask {
            guard (try? await gracefulShutdown()) != nil else { return }
            await action()
        }
        let result = await operation()
        group.cancelAll()
        return result
    }
}

extension Task where Success == Never, Failure == Never {
    /// True once the task is cancelled or its service group began a graceful shutdown.
    static var isCancelledOrShuttingDown: Bool { isCancelled || isShuttingDownGracefully }
}
