import NotifyCore

/// A Twilio account to send SMS through (its Messages API). The auth token is a secret: it comes from the
/// environment or a credential file, never from the JSON configuration, and `description` leaves it out.
public struct TwilioSettings: Sendable, Equatable, CustomStringConvertible {
    /// Where the API is: Twilio's, or a test server on loopback (plain `http` is allowed only there).
    public var baseURL = "https://api.twilio.com"
    public var accountSID: String
    public var authToken: String
    /// The sending number (E.164), or none when a Messaging Service picks it.
    public var from: String?
    public var messagingServiceSID: String?
    /// Where Twilio posts status callbacks (`<http.receiptBaseUrl>/receipts/twilio`); nil asks for none.
    public var statusCallbackURL: String?
    /// The longest a request may take, answer included.
    public var timeout: Duration = .seconds(15)
    /// Messages per second through the account, shared by every daemon; nil is unlimited.
    public var rateLimit: RateLimit?

    public init(accountSID: String, authToken: String) {
        self.accountSID = accountSID
        self.authToken = authToken
    }

    public var description: String { "\(baseURL) (account \(accountSID))" }
}
