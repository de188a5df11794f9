/// What a server's EHLO reply says it can do (RFC 5321 §4.1.1.1), as far as this client uses it.
struct SMTPCapabilities: Sendable, Equatable {
    var startTLS = false
    var pipelining = false
    /// The SIZE limit in octets (RFC 1870); 0 when advertised without one, nil when not advertised.
    var sizeLimit: Int?
    var authMechanisms: Set<String> = []
    var smtpUTF8 = false
    var eightBitMIME = false

    init() {}

    /// The keywords after the first line (the server's name); `AUTH=PLAIN` is an old spelling some still send.
    init(ehlo reply: SMTPReply) {
        for line in reply.lines.dropFirst() {
            let words = line.split(separator: " ").map { $0.uppercased() }
            guard let keyword = words.first else { continue }
            switch keyword {
            case "STARTTLS": startTLS = true
            case "PIPELINING": pipelining = true
            case "SIZE": sizeLimit = words.count > 1 ? Int(words[1]).map { max(0, $0) } ?? 0 : 0
            case "AUTH": authMechanisms.formUnion(words.dropFirst())
            case "SMTPUTF8": smtpUTF8 = true
            case "8BITMIME": eightBitMIME = true
            default:
                if keyword.hasPrefix("AUTH=") { authMechanisms.formUnion([String(keyword.dropFirst(5))] + words.dropFirst()) }
            }
        }
    }
}
