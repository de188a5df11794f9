import Foundation

/// The repository this test build came from: for the stack script, configuration and test helpers.
public let repositoryRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// Broker and database controls for fault tests, through the local stack script (`deploy/dev/stack`), which
/// knows the node's cookie, ports and data folder.
public enum StackControl {
    @discardableResult
    public static func run(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent("deploy/dev/stack")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @discardableResult
    public static func rabbitmqctl(_ arguments: String...) throws -> Int32 {
        try run(["rabbitmqctl"] + arguments)
    }

    public static func stopPostgres() throws { try run(["postgres-stop"]) }
    public static func startPostgres() throws { try run(["postgres-start"]) }
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held.
public func eventually(timeout: Duration = .seconds(20), _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(50))
    }
    return try await condition()
}
