/// How to reach one SMTP server and who the mail is from. The daemon fills it from `email.*`; the password
/// comes from the environment or a credential file, never from the JSON file, and is never logged.
public struct SMTPSettings: Sendable, Equatable {
    public enum TLSMode: String, Sendable, CaseIterable {
        /// STARTTLS is required: a server that does not offer it is refused and nothing is sent (the default).
        case startTLS = "starttls"
        /// TLS from the first byte (port 465, RFC 8314).
        case implicit
        /// No TLS at all: only for a server on loopback (a local relay, the tests). AUTH is never sent in clear.
        case none
    }

    public var host: String
    public var port: Int
    public var tls: TLSMode = .startTLS
    /// PEM file of the CAs to trust; the system's trust store when nil. Certificates are always verified.
    public var caCertificatePath: String?
    /// The name checked against the server's certificate; `host` when nil.
    public var serverName: String?
    public var username: String?
    public var password: String?
    /// The name sent in EHLO.
    public var heloName = "localhost"
    /// Connections kept open to the server at most.
    public var poolSize = 8
    /// An idle connection is closed (QUIT) after this long.
    public var idleTimeout: Duration = .seconds(60)
    public var connectTimeout: Duration = .seconds(10)
    /// How long any reply may take (RFC 5321 §4.5.3.2 suggests minutes for a relay; a provider answers fast).
    public var replyTimeout: Duration = .seconds(30)

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
}

extension SMTPSettings: CustomStringConvertible {
    /// Where and how, never the credentials.
    public var description: String { "smtp://\(host):\(port) (tls \(tls.rawValue)\(username == nil ? "" : ", auth"))" }
}
