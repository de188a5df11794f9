import Foundation

/// One of the dev stack's Python servers (`deploy/dev/fakes/<script>`: a provider's contract fake, a webhook
/// receiver) on a free loopback port, for a test or a benchmark of its own. Killed when the value goes.
public final class ScriptServer: @unchecked Sendable {
    public let port: Int
    private let process = Process()

    public init(script: String, arguments: [String], environment: [String: String]) throws {
        port = try freeLoopbackPort()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", repositoryRoot.appendingPathComponent("deploy/dev/fakes/\(script)").path, "--port", String(port)]
            + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 where !isListening(onLoopbackPort: port) { Thread.sleep(forTimeInterval: 0.05) }
        guard isListening(onLoopbackPort: port) else { throw SupportFailure("\(script) did not start on \(port)") }
    }

    /// SIGKILL: a test process blocks SIGTERM, and its children inherit the mask. The wait is bounded: a deinit
    /// must not hang a test run on Foundation noticing the exit.
    deinit {
        kill(process.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
}
