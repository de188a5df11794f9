import Foundation

/// One of the dev stack's Python servers (`deploy/dev/fakes/<script>`: a provider's contract fake, a webhook
/// receiver) on a free loopback port, for a test or a benchmark of its own. Killed when the value goes.
public final class ScriptServer: @unchecked Sendable {
    public let port: Int
    private let process: Process

    /// Starts the script and waits until it listens (up to 30 s: a loaded machine imports botocore slowly). A
    /// script that exits first (another process took the free port in between) is started again on a fresh port,
    /// up to three times; the error quotes what the script printed.
    public init(script: String, arguments: [String], environment: [String: String]) throws {
        var failure = ""
        for _ in 0..<3 {
            let port = try freeLoopbackPort()
            let log = FileManager.default.temporaryDirectory.appendingPathComponent("\(script)-\(port).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            defer { try? FileManager.default.removeItem(at: log) }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments =
                ["python3", repositoryRoot.appendingPathComponent("deploy/dev/fakes/\(script)").path, "--port", String(port)]
                + arguments
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = try FileHandle(forWritingTo: log)
            try process.run()
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning, !isListening(onLoopbackPort: port), Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning, isListening(onLoopbackPort: port) {
                // The log file is unlinked when this returns; the script writes on to it, unseen, until it is killed.
                (self.port, self.process) = (port, process)
                return
            }
            kill(process.processIdentifier, SIGKILL)
            failure = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self).suffix(2000).description
        }
        throw SupportFailure("\(script) did not start: \(failure)")
    }

    /// SIGKILL: a test process blocks SIGTERM, and its children inherit the mask. The wait is bounded: a deinit
    /// must not hang a test run on Foundation noticing the exit.
    deinit {
        kill(process.processIdentifier, SIGKILL)
        let deadline = Date().addingTimeInterval(5)
        while process.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }
}
