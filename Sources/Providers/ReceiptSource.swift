import NotifyCore

/// A provider's receipts (status callbacks, event webhooks) as they arrive at the daemon's HTTP listener: the
/// source checks the signature and reads the body; the daemon merges what it returns (`ReceiptStore`).
public protocol ReceiptSource: Sendable {
    /// The listener's path the provider posts to, e.g. `/receipts/twilio`.
    var path: String { get }
    /// - Parameters:
    ///   - query: the request's query string, without `?`, as received.
    ///   - headers: the request's headers.
    ///   - body: the request's body, as received.
    func receipts(query: String?, headers: [(String, String)], body: [UInt8]) async -> ReceiptCheck
}

public enum ReceiptCheck: Sendable, Equatable {
    case receipts([Receipt])
    /// Missing or wrong: answered 401, recorded nowhere.
    case badSignature
    /// Not acceptable whatever its signature (another topic, a stale timestamp, a shape the provider never sends),
    /// found before the signature is checked: answered 401, recorded nowhere, the reason logged.
    case refused(String)
    /// Signed, but not a body we can read: answered 400.
    case malformed(String)
    /// Cannot be checked now (the signing certificate cannot be fetched): answered 503, so the provider sends it
    /// again later.
    case unavailable(String)
}
