import Foundation
import Postgres
import StackSupport

/// A stand-in for systemd's notification socket: collects what a daemon sends to `$NOTIFY_SOCKET`.
final class NotifySocketListener: @unchecked Sendable {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("notify-\(UUID().uuidString.prefix(8)).sock").path
    private let fd: Int32
    private let lock = NSLock()
    private var received: [(at: ContinuousClock.Instant, message: String)] = []

    init() throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0 else { throw SupportFailure("cannot bind \(path)") }
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 4096)
            while true {
                let count = recv(fd, &buffer, buffer.count, 0)
                guard count > 0 else { return }
                let message = String(decoding: buffer[0..<count], as: UTF8.self)
                lock.withLock { received.append((.now, message)) }
            }
        }
        thread.start()
    }

    var messages: [String] { lock.withLock { received.map(\.message) } }

    /// When `message` was last received.
    func last(_ message: String) -> ContinuousClock.Instant? {
        lock.withLock { received.last { $0.message == message }?.at }
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
        unlink(path)
    }
}

extension ServiceHarness {
    /// Process ids of the daemon's own PostgreSQL sessions (application_name `flowmart-notify`, its database).
    func daemonBackends(waitingOnLock: Bool = false) async throws -> [Int] {
        let database = slot.database
        return try await admin.withConnection { db in
            try db.query(
                """
                SELECT pid FROM pg_stat_activity
                WHERE datname = \(database) AND application_name = 'flowmart-notify'
                  AND (NOT \(waitingOnLock) OR wait_event_type = 'Lock')
                """
            ).map { try $0.decode(0, as: Int.self) }
        }
    }

    /// Stored notifications, or nil while the database cannot be reached.
    func storedCountIfReachable() async -> Int? {
        try? await storedCount()
    }
}
