import CLibPQ

/// How to reach PostgreSQL, with documented defaults.
public struct PGConfiguration: Sendable, Equatable {
    /// A libpq connection URI, `postgresql://user:password@host:port/database?sslmode=...`. Any libpq parameter
    /// may appear in the query string.
    public var url: String
    /// Connections in the pool. Default 4: enough for ingestion, queries and the relay to run side by side.
    public var poolSize: Int = 4
    /// Bound on establishing a connection, in whole seconds (libpq's `connect_timeout`). Default 5.
    public var connectTimeoutSeconds: Int = 5

    /// Checks that `url` parses as a libpq connection string; the error never repeats the URL (it may hold a password).
    public init(url: String) throws(PGError) {
        var message: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(url, &message) else {
            let reason = message.map { String(cString: $0).singleLine } ?? "unparsable"
            if let message { PQfreemem(message) }
            throw PGError(.invalidConfiguration, "PostgreSQL URL is not valid: \(reason)")
        }
        PQconninfoFree(options)
        self.url = url
    }

    /// `host:port/database` for messages: never the user's password.
    public var target: String {
        var host = "localhost", port = "5432", database = ""
        if let options = PQconninfoParse(url, nil) {
            defer { PQconninfoFree(options) }
            var cursor = options
            while let keyword = cursor.pointee.keyword {
                if let value = cursor.pointee.val {
                    switch String(cString: keyword) {
                    case "host", "hostaddr": host = String(cString: value)
                    case "port": port = String(cString: value)
                    case "dbname": database = String(cString: value)
                    default: break
                    }
                }
                cursor += 1
            }
        }
        return "\(host):\(port)/\(database)"
    }
}

extension String {
    /// libpq messages span lines ("...failed: Connection refused\n\tIs the server running..."): one line for logs.
    var singleLine: String {
        split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}
