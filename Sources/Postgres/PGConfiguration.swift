import CLibPQ

/// How to reach PostgreSQL, with documented defaults.
///
/// The URL may carry any libpq parameter in its query string, and those win: the session settings below are
/// defaults that fill in what the URL does not say (and `options` from the URL is kept, after ours).
public struct PGConfiguration: Sendable, Equatable {
    /// A libpq connection URI, `postgresql://user:password@host:port/database?sslmode=...`.
    public var url: String
    /// Connections in the pool. Default 2.
    public var poolSize: Int = 2
    /// Bound on establishing a connection, in whole seconds (libpq's `connect_timeout`). Default 5.
    public var connectTimeoutSeconds: Int = 5
    /// Server-side bound on one statement (`statement_timeout`), so a hung lock or a runaway query fails (and is
    /// retried) instead of holding a connection forever. Default 15 s; 0 turns it off.
    public var statementTimeoutMilliseconds: Int = 15_000
    /// How long sent data may stay unacknowledged before the kernel drops the connection (`tcp_user_timeout`),
    /// and the keepalive probes that notice a silent peer: a black-holed server is noticed in about 10 s instead of
    /// the kernel's 15 minutes. Default 10 s.
    public var tcpUserTimeoutMilliseconds: Int = 10_000
    /// `sslmode`. Default nil: `verify-full` (encrypted, certificate and host name checked) for a server off
    /// loopback, libpq's own default (`prefer`) on loopback or a Unix socket. A `sslmode` in the URL wins.
    public var tlsMode: String?
    /// `sslrootcert`: PEM bundle of the CAs trusted for the server's certificate. Default: libpq's
    /// (`~/.postgresql/root.crt`).
    public var tlsCACertificatePath: String?

    /// Checks that `url` parses as a libpq connection string. The error never repeats the URL or libpq's
    /// message about it: both may hold the password.
    public init(url: String) throws(PGError) {
        guard Self.parse(url) != nil else {
            throw PGError(
                .invalidConfiguration,
                "PostgreSQL URL is not valid (check the scheme, percent-encoding and parameter names)")
        }
        self.url = url
    }

    /// `host:port/database` for messages: never the user's password.
    public var target: String {
        let parameters = Self.parse(url) ?? [:]
        return
            "\(parameters["host"] ?? parameters["hostaddr"] ?? "localhost"):\(parameters["port"] ?? "5432")/\(parameters["dbname"] ?? "")"
    }

    /// The password in the URL, if any: error messages are scrubbed of it.
    var password: String? { Self.parse(url)?["password"].flatMap { $0.isEmpty ? nil : $0 } }

    /// Every libpq keyword and value a connection is opened with: the URL's, then these defaults for what it does
    /// not set.
    public var connectionParameters: [(keyword: String, value: String)] {
        var parameters = Self.parse(url) ?? [:]
        let session =
            "-c TimeZone=UTC -c DateStyle=ISO,YMD -c client_min_messages=warning"
            + " -c statement_timeout=\(statementTimeoutMilliseconds)"
        // Later -c settings win, so the URL's own options come last.
        parameters["options"] = [session, parameters["options"]].compactMap { $0 }.joined(separator: " ")
        var defaults = [
            "connect_timeout": String(connectTimeoutSeconds),
            "application_name": "flowmart-notify",
            "tcp_user_timeout": String(tcpUserTimeoutMilliseconds),
            "keepalives": "1", "keepalives_idle": "10", "keepalives_interval": "5", "keepalives_count": "3",
        ]
        if let mode = tlsMode ?? (isLoopback(parameters) ? nil : "verify-full") { defaults["sslmode"] = mode }
        if let tlsCACertificatePath { defaults["sslrootcert"] = tlsCACertificatePath }
        parameters.merge(defaults) { fromURL, _ in fromURL }
        return parameters.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
    }

    /// True when every host is loopback or a Unix socket (no host at all means the default socket).
    private func isLoopback(_ parameters: [String: String]) -> Bool {
        let hosts = (parameters["hostaddr"] ?? parameters["host"] ?? "").split(separator: ",", omittingEmptySubsequences: false)
        return hosts.allSatisfy { host in
            host.isEmpty || host.hasPrefix("/") || host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }
    }

    /// The keywords `url` sets, or nil when libpq cannot parse it.
    private static func parse(_ url: String) -> [String: String]? {
        guard let options = PQconninfoParse(url, nil) else { return nil }
        defer { PQconninfoFree(options) }
        var parameters: [String: String] = [:]
        var cursor = options
        while let keyword = cursor.pointee.keyword {
            if let value = cursor.pointee.val { parameters[String(cString: keyword)] = String(cString: value) }
            cursor += 1
        }
        return parameters
    }
}

extension String {
    /// libpq messages span lines ("...failed: Connection refused\n\tIs the server running..."): one line for logs.
    var singleLine: String {
        split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }

    /// This message with `secret` (if any) replaced, for errors that quote what libpq said.
    func scrubbing(_ secret: String?) -> String {
        guard let secret, !secret.isEmpty else { return self }
        return replacingOccurrences(of: secret, with: "***")
    }
}
