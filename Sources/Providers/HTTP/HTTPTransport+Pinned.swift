import AsyncHTTPClient
import NIOCore
import NotifyCore

extension HTTPTransport {
    /// `execute` for requests to hosts whose addresses the caller resolved and checked (webhooks, `EgressPolicy`):
    /// each request's host name is connected to the address `addresses` gives for it (host → IP address text), by a
    /// client of this round alone whose `dnsOverride` is that map. So the client resolves no name, and a DNS answer
    /// that changes between the check and the connect (DNS rebinding) reaches nothing: the connection goes to the
    /// address that was checked. The request keeps its URL, so its `Host` header, the TLS server name (SNI) and the
    /// name the certificate is verified against are the host name's. A request whose host is neither an IP address
    /// nor in `addresses` is not sent. Connections are reused within the round, never across rounds: the next round
    /// may have resolved the name elsewhere.
    public func execute(
        _ planned: [Result<HTTPClient.Request, DeliveryFailure>], timeout: Duration, connectingTo addresses: [String: String]
    ) async -> [Result<Response, DeliveryFailure>] {
        let unchecked = DeliveryFailure(
            code: "address-unchecked", .transient, detail: "the host's address was not checked before connecting")
        let checked = planned.map { planned in
            planned.flatMap { request in
                addresses[request.host] != nil || Self.isIPAddress(request.host) ? .success(request) : .failure(unchecked)
            }
        }
        var configuration = configuration
        configuration.dnsOverride = addresses
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        let results = await Self.execute(checked, on: client, timeout: timeout)
        try? await client.shutdown()
        return results
    }

    /// Whether async-http-client takes `host` (as `HTTPClient.Request.host` gives it: IPv6 in brackets) for an
    /// address it connects to without resolving.
    static func isIPAddress(_ host: String) -> Bool {
        let bare = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        return (try? SocketAddress(ipAddress: bare, port: 0)) != nil
    }

    /// `address` (4 or 16 bytes) as text async-http-client connects to; nil for any other length.
    public static func text(ofAddress address: [UInt8]) -> String? {
        guard address.count == 4 || address.count == 16 else { return nil }
        return (try? SocketAddress(packedIPAddress: ByteBuffer(bytes: address), port: 0))?.ipAddress
    }
}
