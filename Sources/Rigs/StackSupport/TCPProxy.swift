import Foundation

/// The loopback TCP proxy of `deploy/dev/tcp-proxy.py`, between a daemon and the broker: the fault
/// tests' and the chaos checker's network black hole.
public final class TCPProxy: @unchecked Sendable {
    let process = Process()
    public let port: Int

    public init(targetPort: Int) throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", repositoryRoot.appendingPathComponent("deploy/dev/tcp-proxy.py").path,
            String(targetPort),
        ]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        var line = ""
        while !line.contains("\n") {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            line += String(decoding: chunk, as: UTF8.self)
        }
        guard let port = line.split(separator: " ").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            throw SupportFailure("the TCP proxy did not start: \(line)")
        }
        self.port = port
    }

    /// Stops forwarding without closing anything: a network that silently drops every packet.
    public func blackHole() { kill(process.processIdentifier, SIGUSR1) }
    public func restore() { kill(process.processIdentifier, SIGUSR2) }
    public func stop() { kill(process.processIdentifier, SIGKILL) }

    deinit {
        stop()
    }
}
