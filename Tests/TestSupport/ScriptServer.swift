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
        for _ in 0..<200 where !Self.listening(port) { Thread.sleep(forTimeInterval: 0.05) }
        guard Self.listening(port) else { throw SupportFailure("\(script) did not start on \(port)") }
    }

    /// SIGKILL: a test process blocks SIGTERM, and its children inherit the mask.
    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    public var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Whether something accepts TCP connections on 127.0.0.1:`port`.
    public static func listening(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
