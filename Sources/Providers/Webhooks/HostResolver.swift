import Foundation
import NIOPosix

/// The addresses a host name resolves to, looked up on NIO's thread pool (getaddrinfo blocks; it must not run
/// on the cooperative pool). An IP literal resolves to itself.
public enum HostResolver {
    struct Failure: Error {}

    /// How a host name is resolved: the system's resolver in the daemon; a test's own where it plays DNS.
    public typealias Resolve = @Sendable (_ host: String) async throws -> [[UInt8]]

    /// IPv4 addresses as 4 bytes, IPv6 as 16.
    public static func addresses(of host: String) async throws -> [[UInt8]] {
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return try await NIOThreadPool.singleton.runIfActive {
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var list: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { throw Failure() }
            defer { freeaddrinfo(first) }
            var addresses: [[UInt8]] = []
            var next: UnsafeMutablePointer<addrinfo>? = first
            while let info = next {
                if info.pointee.ai_family == AF_INET, let address = info.pointee.ai_addr {
                    address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin_addr) { addresses.append(Array($0)) }
                    }
                } else if info.pointee.ai_family == AF_INET6, let address = info.pointee.ai_addr {
                    address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                        withUnsafeBytes(of: pointer.pointee.sin6_addr) { addresses.append(Array($0)) }
                    }
                }
                next = info.pointee.ai_next
            }
            return addresses
        }
    }
}
