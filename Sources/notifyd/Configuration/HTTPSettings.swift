import Configuration
import NotifyCore

/// `http.*`: the listener for health checks, metrics, providers' receipts and the commands. On loopback by default;
/// port 0 turns it off. What a caller from outside may cost it is bounded here: connections, their idle time, the
/// time to send a request, the bodies held at once and the requests waiting for a database connection.
struct HTTPSettings: Sendable, Equatable {
    var bind = "127.0.0.1"
    var port = 9470
    /// The public URL providers reach this listener at (through a proxy, say): their callbacks go to
    /// `<base>/receipts/<provider>`, and signatures are checked against it. Empty asks providers for no receipts.
    var receiptBaseURL: String?
    /// A lane whose oldest job waited longer than this fails `/health/delivery` (delivering degraded; readiness does
    /// not look at lanes); 0 never does. The low lane carries campaigns that may be paced for hours, so it is not
    /// judged by default.
    var deliveryLaneAgeSeconds: [NotificationPriority: Int] = [.high: 30, .normal: 900, .low: 0]
    /// Connections open at once; past it the listener accepts no more until one closes (the kernel's backlog holds
    /// the rest).
    var maxConnections = 512
    /// A connection with no request under way for this long is closed; this also bounds the time to send a
    /// request's headers.
    var idleTimeoutSeconds = 60
    /// A request whose body has not arrived whole this long after its headers closes its connection (a client that
    /// trickles a body holds neither a connection nor its share of the body budget for long).
    var requestReadTimeoutSeconds = 10
    /// Bytes of request bodies held at once across all requests: each reserves its declared length (its route's
    /// limit when chunked) before any of it is read, and past the budget is answered 503 with `Retry-After` unread.
    var bodyBudgetBytes = 16 * 1024 * 1024
    /// Requests that may wait for a query connection when all are busy; past it, 503 with `Retry-After` at once.
    var databaseQueueLimit = 64

    /// The request line and headers, at most (each field at most 8 KiB): larger is 400 and the connection closes.
    static let maxHeaderBytes = 16 * 1024
    static let maxHeaderFieldBytes = 8 * 1024
    /// Header fields of one request, at most.
    static let maxHeaderFields = 100

    init(config: ConfigReader) throws(ConfigurationError) {
        bind = config.string(forKey: "http.bind", default: bind)
        guard !bind.isEmpty, !bind.contains(where: \.isWhitespace) else {
            throw ConfigurationError(key: "http.bind", reason: "must be an address to listen on")
        }
        port = try config.int("http.port", port, 0...65_535)
        if config.optionalString("http.receiptBaseUrl") != nil {
            receiptBaseURL = try config.httpURL("http.receiptBaseUrl", "")
        }
        for lane in NotificationPriority.allCases {
            deliveryLaneAgeSeconds[lane] = try config.int(
                "http.deliveryLaneAgeSeconds.\(lane.rawValue)", deliveryLaneAgeSeconds[lane] ?? 0, 0...86_400 * 7)
        }
        maxConnections = try config.int("http.maxConnections", maxConnections, 1...65_536)
        idleTimeoutSeconds = try config.int("http.idleTimeoutSeconds", idleTimeoutSeconds, 1...3_600)
        requestReadTimeoutSeconds = try config.int("http.requestReadTimeoutSeconds", requestReadTimeoutSeconds, 1...600)
        // At least the largest body a route takes (a batch's 1 MiB), or that route could never be served.
        bodyBudgetBytes = try config.int("http.bodyBudgetBytes", bodyBudgetBytes, SendBatch.maxRequestBytes...1 << 30)
        databaseQueueLimit = try config.int("http.databaseQueueLimit", databaseQueueLimit, 0...100_000)
    }

    var isEnabled: Bool { port != 0 }
}
