import Foundation

/// A `notifyd` process started by a test or a benchmark, with its combined output captured. It runs with the
/// repository's `Config/notifyd.json` and none of the caller's `NOTIFY_*` variables: only the stack's URLs and the
/// given overrides.
public final class DaemonProcess: @unchecked Sendable {
    /// The debug build the tests run: `make test` builds it first and exports its path; `swift build` puts it here.
    public static let binary =
        ProcessInfo.processInfo.environment["NOTIFYD_BIN"]
        ?? repositoryRoot.appendingPathComponent(".build/debug/notifyd").path

    /// The local stack's broker and the tests' database; no HTTP listener (several daemons may run at once), unless
    /// a test gives it a port of its own.
    public static let stackEnvironment = [
        "NOTIFY_AMQP_URL": StackURLs.amqp, "NOTIFY_POSTGRES_URL": StackURLs.testPostgres, "NOTIFY_HTTP_PORT": "0",
    ]

    public let process = Process()
    private let output = Pipe()
    private let lock = NSLock()
    private var captured = Data()

    /// - Parameter binary: the `notifyd` to run; a benchmark passes its release build.
    public init(binary: String = DaemonProcess.binary, environment overrides: [String: String] = [:], arguments: [String] = []) throws {
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["--config", repositoryRoot.appendingPathComponent("Config/notifyd.json").path] + arguments
        var environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("NOTIFY_") }
        environment.merge(Self.stackEnvironment) { $1 }
        environment.merge(overrides) { $1 }
        process.environment = environment
        process.standardOutput = output
        process.standardError = output
        output.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self, !chunk.isEmpty else { return }
            lock.withLock { captured.append(chunk) }
        }
        try process.run()
    }

    public var log: String { lock.withLock { String(decoding: captured, as: UTF8.self) } }

    /// Waits until the log contains `text` or the process ends.
    public func waitForLog(_ text: String, timeout: Duration = .seconds(30)) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if log.contains(text) { return true }
            if !process.isRunning { return log.contains(text) }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// Waits for the process to exit; returns its status, or nil if it is still running after `timeout`.
    public func waitForExit(timeout: Duration = .seconds(30)) async -> Int32? {
        let deadline = ContinuousClock.now + timeout
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { return nil }
        try? await Task.sleep(for: .milliseconds(50))  // let the last output arrive
        return process.terminationStatus
    }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// The process id: a restarted daemon is another process.
    public var pid: Int32 { process.processIdentifier }

    /// The process's peak resident set size (`VmHWM`), while it runs.
    public var peakResidentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
            let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
            let kilobytes = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }

    /// SIGTERM, then waits for the exit.
    public func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }
}
