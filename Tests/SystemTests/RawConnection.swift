import Foundation
import StackSupport

/// A plain TCP connection to the daemon's listener, for what an HTTP client library will not do: send headers and
/// stop, send nothing at all, send slowly, and see exactly when the server answers and when it closes. A blocking read
/// runs on a thread of its own: never on the tests' cooperative threads, nor on Dispatch's global queue, which runs
/// only as many at once as there are cores (twenty reads at once would wait for each other).
final class RawConnection: @unchecked Sendable {
    private let socket: Int32

    init(port: Int) throws {
        socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socket >= 0 else { throw SupportFailure("socket: errno \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(socket, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            Glibc.close(socket)
            throw SupportFailure("connect: errno \(errno)")
        }
        var slice = timeval(tv_sec: 0, tv_usec: 100_000)
        setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &slice, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { Glibc.close(socket) }

    /// Closes both directions now (the object may live on).
    func shutdown() { _ = Glibc.shutdown(socket, Int32(SHUT_RDWR)) }

    /// Sends `text` whole; false when the server had closed (or reset) the connection.
    @discardableResult
    func send(_ text: String) -> Bool { send(Array(text.utf8)) }

    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let count = bytes[sent...].withUnsafeBytes { Glibc.send(socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard count > 0 else { return false }
            sent += count
        }
        return true
    }

    /// What the server sends until it closes the connection, `timeout` passes or what arrived satisfies `enough`, and
    /// whether it closed.
    func read(for timeout: Duration, until enough: @escaping @Sendable (String) -> Bool = { _ in false }) async -> (
        text: String, closed: Bool
    ) {
        await withCheckedContinuation { continuation in
            Thread { [self] in
                let deadline = ContinuousClock.now + timeout
                var received: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 65_536)
                var closed = false
                while ContinuousClock.now < deadline {
                    let count = buffer.withUnsafeMutableBytes { recv(socket, $0.baseAddress, $0.count, 0) }
                    if count > 0 {
                        received += buffer[..<count]
                        if enough(String(decoding: received, as: UTF8.self)) { break }
                    } else if count == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                        closed = true
                        break
                    }
                }
                continuation.resume(returning: (String(decoding: received, as: UTF8.self), closed))
            }.start()
        }
    }

    /// The response's status line's code, or nil before one arrived.
    static func status(_ text: String) -> Int? {
        guard text.hasPrefix("HTTP/1.1 ") else { return nil }
        return Int(text.dropFirst(9).prefix(3))
    }
}
