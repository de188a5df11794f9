import ServiceLifecycle

/// Runs `operation`; when graceful shutdown begins, runs `action` (typically: cancel the consumer, so the
/// operation drains what it holds and returns). Structured: no task outlives this call.
func withShutdownAction(
    _ action: @escaping @Sendable () async -> Void, operation: () async -> Void
) async {
    await withTaskGroup(of: Void.self) { group in
        group.addTask {
            guard (try? await gracefulShutdown()) != nil else { return }
            await action()
        }
        await operation()
        group.cancelAll()
    }
}
