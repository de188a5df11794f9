/// Why one attempt at a delivery failed, classified once, here, for every provider: the class decides what
/// happens next (`RetryPolicy`), the code and detail are what the history, the logs and the dead-letter headers say.
public struct DeliveryFailure: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Class: String, Sendable, CaseIterable {
        /// Worth trying again later: connection errors, timeouts, SMTP 4xx.
        case transient
        /// Never worth retrying for this message: SMTP 5xx on the recipient or the content, an invalid address.
        case permanent
        /// The provider cannot send anything (authentication refused, TLS required but not offered): stop using
        /// it and keep the delivery for later, without spending its attempts.
        case provider
        /// The provider asks us to slow down (HTTP 429): not this delivery's fault. It waits for the provider's
        /// shared schedule, pushed by `retryAfter`, without spending an attempt.
        case throttled
    }

    /// Short and stable: `smtp-550`, `connection`, `timeout`, `starttls-unavailable`, `auth-failed`, ...
    public var code: String
    public var failureClass: Class
    /// What the provider said (an SMTP reply's text) or what went wrong, without credentials. A server's reply
    /// may quote the recipient's address: it goes to the delivery's history and dead-letter headers, not to logs.
    public var detail: String
    /// For `throttled`: how long the provider asked us to wait, in seconds.
    public var retryAfter: Double?

    public init(code: String, _ failureClass: Class, detail: String, retryAfter: Double? = nil) {
        self.code = code
        self.failureClass = failureClass
        self.detail = detail
        self.retryAfter = retryAfter
    }

    public var description: String { "\(code) (\(failureClass.rawValue))" }

    /// Where in an SMTP session a reply came.
    public enum SMTPStage: String, Sendable {
        case greeting, ehlo, starttls, auth, mailFrom = "mail", recipient = "rcpt", data, message
    }

    /// An SMTP reply that was not the success its stage expects (RFC 5321 §4.2.1; RFC 4954 for AUTH).
    /// - 4xx anywhere is transient (421 is the server closing; 450/451/452 are mailbox or resource trouble).
    /// - 5xx to the greeting, EHLO, STARTTLS or AUTH means this server will take nothing from us: provider-wide.
    /// - 5xx to MAIL FROM with enhanced status 5.7.x (authentication or policy on the sender) is provider-wide;
    ///   other 5xx to MAIL (size, syntax) are permanent for this message.
    /// - 5xx to RCPT, DATA or the end of the message are permanent for this message.
    public static func smtp(code: Int, enhanced: String?, text: String, stage: SMTPStage) -> DeliveryFailure {
        let reply = String(([String(code), enhanced].compactMap { $0 } + [text]).joined(separator: " ").prefix(512))
        let failureClass: Class
        switch (code / 100, stage) {
        case (4, _): failureClass = .transient
        case (5, .greeting), (5, .ehlo), (5, .starttls), (5, .auth): failureClass = .provider
        case (5, .mailFrom): failureClass = enhanced?.hasPrefix("5.7.") == true ? .provider : .permanent
        case (5, _): failureClass = .permanent
        default: failureClass = .transient  // not a reply a server may give (1xx, 3xx out of turn): try again
        }
        return DeliveryFailure(code: "smtp-\(code)", failureClass, detail: "\(stage.rawValue): \(reply)")
    }

    /// The connection failed, was refused, reset or closed by the server, or a reply did not come in time.
    public static func connection(_ detail: String) -> DeliveryFailure { DeliveryFailure(code: "connection", .transient, detail: detail) }
    public static func timeout(_ stage: SMTPStage) -> DeliveryFailure {
        DeliveryFailure(code: "timeout", .transient, detail: "no reply to \(stage.rawValue) in time")
    }
    /// TLS is required but the server does not offer STARTTLS: nothing may be sent to it.
    public static let startTLSUnavailable = DeliveryFailure(
        code: "starttls-unavailable", .provider, detail: "the server does not offer STARTTLS and TLS is required")
    /// The TLS handshake failed (an untrusted certificate, a name mismatch): a configuration problem of the provider.
    public static func tls(_ detail: String) -> DeliveryFailure { DeliveryFailure(code: "tls", .provider, detail: detail) }
    /// The server offers none of the mechanisms we speak, or credentials are configured but it offers no AUTH.
    public static let authUnavailable = DeliveryFailure(
        code: "auth-unavailable", .provider, detail: "the server offers no AUTH mechanism we support (PLAIN, LOGIN)")
    /// An address the server cannot take (a non-ASCII local part without SMTPUTF8).
    public static func unsendableAddress(_ detail: String) -> DeliveryFailure {
        DeliveryFailure(code: "invalid-address", .permanent, detail: detail)
    }
    /// The message is larger than the server's advertised SIZE.
    public static func tooLarge(limit: Int) -> DeliveryFailure {
        DeliveryFailure(code: "too-large", .permanent, detail: "the message is larger than the server's limit of \(limit) octets")
    }
}

extension DeliveryFailure {
    public static let pacedCode = "paced"

    /// Not an attempt: a rate limit has no slot soon enough to hold the job for, so it waits in a
    /// retry tier without spending an attempt.
    public static func paced(_ limit: String, wait seconds: Double) -> DeliveryFailure {
        DeliveryFailure(code: pacedCode, .transient, detail: "rate limit of \(limit): next slot in \(Int(seconds.rounded(.up))) s")
    }

    /// The server cannot be reached at all (refused, no route, no answer to the connect): nothing can be sent
    /// through it, so this is provider-wide, and waiting for it spends no attempt.
    public static func unreachable(_ detail: String) -> DeliveryFailure { DeliveryFailure(code: "unreachable", .provider, detail: detail) }
}
