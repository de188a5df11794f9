import Foundation

/// The repository this build came from (this file is `Sources/Rigs/StackSupport/StackControl.swift`): for the stack
/// script, configuration and test helpers.
public let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Broker and database controls for fault tests, through the local stack script (`deploy/dev/stack`), which
/// knows the node's cookie, ports and data folder.
public enum StackControl {
    @discardableResult
    public static func run(_ arguments: [String]) throws -> Int32 {
        try runTool(repositoryRoot.appendingPathComponent("deploy/dev/stack").path, arguments)
    }

    @discardableResult
    public static func rabbitmqctl(_ arguments: String...) throws -> Int32 {
        try run(["rabbitmqctl"] + arguments)
    }

    public static func stopPostgres() throws { try run(["postgres-stop"]) }
    public static func startPostgres() throws { try run(["postgres-start"]) }
}

/// Runs `executable` with `arguments` to completion, its output discarded; returns its exit status.
@discardableResult
public func runTool(_ executable: String, _ arguments: [String]) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return process.terminationStatus
}

@discardableResult
public func runTool(_ executable: String, _ arguments: String...) throws -> Int32 { try runTool(executable, arguments) }

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
public func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}

/// Where the local stack (`deploy/dev/stack up`) listens: `deploy/dev/stack env` exports these, and `make test` and
/// `make bench` run with them; the fallbacks are the stack's own ports.
public enum StackURLs {
    static let environment = ProcessInfo.processInfo.environment
    public static let amqp = environment["NOTIFY_AMQP_URL"] ?? "amqp://guest:guest@127.0.0.1:5682/%2f"
    /// The database the daemon uses; benchmarks create their own beside it.
    public static let postgres = environment["NOTIFY_POSTGRES_URL"] ?? "postgresql://postgres@127.0.0.1:55432/notify"
    /// The database the tests use.
    public static let testPostgres = environment["NOTIFY_TEST_POSTGRES_URL"] ?? "postgresql://postgres@127.0.0.1:55432/notify_test"

    /// Whether this process has the stack's environment (`deploy/dev/stack env`, which `make test` evaluates): the
    /// suites that need a server run only then, and are skipped, saying what is missing, rather than failing to
    /// connect. The test database's URL alone is what the store's suites need.
    public static let hasTestPostgres = environment["NOTIFY_TEST_POSTGRES_URL"] != nil
    public static let hasStack = ["NOTIFY_AMQP_URL", "NOTIFY_TEST_POSTGRES_URL", "NOTIFY_TEST_SMTP_PLAIN_PORT"].allSatisfy {
        environment[$0] != nil
    }
    /// Whether it has the cluster stack's too (`deploy/dev/cluster test-env`, which `make test` evaluates).
    public static let hasCluster = environment["NOTIFY_TEST_CLUSTER_AMQP_URL"] != nil
}
