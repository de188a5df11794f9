import ServiceLifecycle

extension PGPool: Service {
    /// Keeps the pool open until graceful shutdown (or cancellation), then closes it, after lent connections come
    /// back. A service group stops services in reverse order, so a pool listed before the services that use it
    /// closes after they have drained. `connect()` comes first, before the group runs, so a daemon that cannot
    /// reach the database refuses to start.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
