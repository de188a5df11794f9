import ServiceLifecycle

extension AMQPConnection: Service {
    /// Keeps the connection open until graceful shutdown (or cancellation), then closes it, waiting briefly for
    /// outstanding confirms. A service group stops services in reverse order, so a connection listed before the
    /// services that use it closes after they have drained. `connect()` comes first, before the group runs, so a
    /// daemon that cannot reach the broker refuses to start.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }
}
