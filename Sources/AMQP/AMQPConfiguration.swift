import Foundation

/// How to reach and talk to the broker.
///
/// Every field has a documented default; `AMQPConfiguration(url:)` is enough for a local broker.
public struct AMQPConfiguration: Sendable, Equatable {
    /// Broker endpoint and credentials, from an `amqp://` or `amqps://` URL.
    public var endpoint: AMQPEndpoint
    /// More nodes of the same cluster (`host:port`), with the URL's credentials, vhost and TLS: a connection that is
    /// lost, or cannot be opened, is tried on the next node in turn. Default: none.
    public var alternateNodes: [AMQPNode] = []
    /// Heartbeat interval proposed to the broker. Default 10 s: a dead peer is noticed within about 20 s.
    public var heartbeat: Duration = .seconds(10)
    /// Bound on TCP/TLS connect and the AMQP handshake. Default 5 s.
    public var connectTimeout: Duration = .seconds(5)
    /// Bound on synchronous methods (declare, consume, close). Default 10 s; on expiry the socket is closed.
    public var rpcTimeout: Duration = .seconds(10)
    /// First reconnect delay; doubles up to `reconnectMaxDelay`, with full jitter. Default 100 ms.
    public var reconnectInitialDelay: Duration = .milliseconds(100)
    /// Ceiling of the reconnect delay. Default 10 s.
    public var reconnectMaxDelay: Duration = .seconds(10)
    /// Shown by `rabbitmqctl list_connections name` and the management UI. Default `flowmart-notify`.
    public var connectionName: String = "flowmart-notify"
    /// PEM bundle of trusted CAs for `amqps://`. Default: none, which makes TLS connections fail verification
    /// unless the broker's certificate chains to a CA given here.
    public var caCertificatePath: String?
    /// Client certificate and key (PEM) for mutual TLS. Default: none.
    public var clientCertificatePath: String?
    public var clientKeyPath: String?

    /// RabbitMQ's own default: `guest` on the local broker's default vhost.
    public static let defaultURL = "amqp://guest:guest@127.0.0.1:5672/%2f"

    public init(endpoint: AMQPEndpoint) {
        self.endpoint = endpoint
    }

    /// Parses `url` and keeps every other default.
    public init(url: String) throws(AMQPError) {
        self.init(endpoint: try AMQPEndpoint(url: url))
    }

    /// Every endpoint a connection may use, in the order they are tried: the URL's, then the alternates (one that
    /// repeats the URL's node is not tried twice).
    public var endpoints: [AMQPEndpoint] {
        var endpoints = [endpoint]
        for node in alternateNodes where !endpoints.contains(where: { $0.host == node.host && $0.port == node.port }) {
            var alternate = endpoint
            alternate.host = node.host
            alternate.port = node.port
            endpoints.append(alternate)
        }
        return endpoints
    }
}

/// One node of a broker cluster: `host:port` (`[::1]:5672` for IPv6; the port defaults to the URL scheme's).
public struct AMQPNode: Sendable, Equatable {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host[:port]`, the port defaulting to `defaultPort`.
    public init(parsing text: String, defaultPort: Int) throws(AMQPError) {
        let invalid = AMQPError(.invalidConfiguration, "a broker node must be host or host:port")
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw invalid }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = Int(rest.dropFirst()) else { throw invalid }
                port = value
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard let value = Int(host[host.index(after: colon)...]) else { throw invalid }
            port = value
            host = host[..<colon]
        }
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || $0 == "/" || $0 == "@" }) else { throw invalid }
        guard (1...65535).contains(port) else { throw AMQPError(.invalidConfiguration, "a broker node's port is out of range") }
        self.host = String(host)
        self.port = port
    }
}

/// A parsed `amqp://user:password@host:port/vhost` URL.
public struct AMQPEndpoint: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var vhost: String
    public var tls: Bool
    /// True when the URL itself carried a password (rather than the default `guest`).
    public var hasPassword: Bool

    /// Parses an AMQP URI as RabbitMQ documents it: `amqp[s]://[user[:password]@]host[:port][/vhost]`.
    /// The vhost is percent-decoded (`%2f` is `/`); an absent or empty path means `/`. Defaults: guest/guest, port 5672
    /// (5671 for `amqps`).
    public init(url: String) throws(AMQPError) {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased() else {
            throw AMQPError(.invalidConfiguration, "AMQP URL is not a valid URL")
        }
        switch scheme {
        case "amqp": tls = false
        case "amqps": tls = true
        default: throw AMQPError(.invalidConfiguration, "AMQP URL scheme must be amqp or amqps, not '\(scheme)'")
        }
        guard let host = components.host, !host.isEmpty else {
            throw AMQPError(.invalidConfiguration, "AMQP URL has no host")
        }
        self.host = host
        if let port = components.port {
            guard (1...65535).contains(port) else { throw AMQPError(.invalidConfiguration, "AMQP URL port is out of range") }
            self.port = port
        } else {
            self.port = tls ? 5671 : 5672
        }
        user = components.user.flatMap { $0.removingPercentEncoding } ?? "guest"
        hasPassword = components.password != nil
        password = components.password.flatMap { $0.removingPercentEncoding } ?? "guest"
        let path = components.percentEncodedPath
        if path.isEmpty || path == "/" {
            vhost = "/"
        } else {
            let raw = String(path.dropFirst())
            guard !raw.contains("/") else {
                throw AMQPError(.invalidConfiguration, "AMQP URL vhost must be one path segment (write '/' as %2f)")
            }
            vhost = raw.removingPercentEncoding ?? raw
        }
    }

    /// `amqp://user@host:port/vhost`: the password is never printed.
    public var description: String {
        let encodedVhost = vhost.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? vhost
        return "\(tls ? "amqps" : "amqp")://\(user)@\(host):\(port)/\(encodedVhost)"
    }
}
