import Foundation
import StackSupport

/// An SMTP server of the checker's own (`deploy/dev/smtp-peer.py`: STARTTLS, AUTH, every message in a Maildir), so
/// that a scenario can stop it for a minute and the checker can read exactly what it received.
final class SMTPPeer: @unchecked Sendable {
    let port: Int
    let maildir: URL
    private let plainPort: Int
    private let certificateDirectory: URL
    private let password: String
    private var process: Process?

    init(certificateDirectory: URL, password: String) throws {
        port = try freeLoopbackPort()
        plainPort = try freeLoopbackPort()
        maildir = FileManager.default.temporaryDirectory.appendingPathComponent("chaos-maildir-\(UUID().uuidString.prefix(8))")
        self.certificateDirectory = certificateDirectory
        self.password = password
        try start()
    }

    /// Starts the server on the same port and Maildir; returns once it accepts connections.
    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [
            "python3", repositoryRoot.appendingPathComponent("deploy/dev/smtp-peer.py").path, "--port", String(port),
            "--plain-port", String(plainPort), "--maildir", maildir.path,
            "--cert", certificateDirectory.appendingPathComponent("server.pem").path,
            "--key", certificateDirectory.appendingPathComponent("server.key").path,
        ]
        process.environment = ProcessInfo.processInfo.environment.merging(["SMTP_PEER_PASSWORD": password]) { $1 }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        self.process = process
        for _ in 0..<100 where !isListening(onLoopbackPort: port) { usleep(100_000) }
        guard isListening(onLoopbackPort: port) else { throw SupportFailure("the SMTP peer did not start on \(port)") }
    }

    /// Stops the server (SIGTERM, SIGKILL after 5 s): from then on a client's connection is refused.
    func stop() {
        guard let process, process.isRunning else { return }
        process.terminate()
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        for _ in 0..<100 where process.isRunning { usleep(50_000) }
    }

    /// How many messages it has taken so far (a directory listing: cheap enough to sample twice a second).
    var received: Int {
        (try? FileManager.default.contentsOfDirectory(atPath: maildir.appendingPathComponent("new").path).count) ?? 0
    }

    /// The Message-ID of every message received (one per file; only the header block is read).
    func messageIDs() -> [String] {
        let folder = maildir.appendingPathComponent("new")
        let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return files.compactMap { name in
            guard let handle = FileHandle(forReadingAtPath: folder.appendingPathComponent(name).path) else { return nil }
            defer { try? handle.close() }
            let head = String(decoding: handle.readData(ofLength: 4096), as: UTF8.self)
            for line in head.split(separator: "\r\n", omittingEmptySubsequences: false).flatMap({
                $0.split(separator: "\n", omittingEmptySubsequences: false)
            }) {
                if line.isEmpty { break }
                if line.lowercased().hasPrefix("message-id:") {
                    return line.dropFirst("message-id:".count).trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    deinit {
        stop()
        try? FileManager.default.removeItem(at: maildir)
    }
}
