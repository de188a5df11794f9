import Configuration
import Foundation
import NotifyCore
import Providers

// The providers' sections of the configuration (`Settings.swift` has the rest): each provider is configured when
// its credentials are, and its secret comes from the environment or a credential file (`Credentials`).

/// `email.*`: the SMTP server email is sent through, and `ses.*`, Amazon SES, a second provider it fails over to
/// (or the only one). Without either there is no email provider and email deliveries are recorded `skipped`
/// (`no-provider`).
struct EmailSettings: Sendable, Equatable {
    var smtp: SMTPSettings?
    var ses: SESSettings?
    /// The providers in failover order, by name; those not configured are left out.
    var providers = ["smtp", "ses"]
    var from = ""
    var fromName: String?
    var unsubscribeURL: String?
    /// The secrets that sign one-click unsubscribe tokens (`{token}` in `unsubscribeURL`), the current one first, then
    /// the one being rotated out; empty: no `/unsubscribe` endpoint.
    var unsubscribeSecrets: [String] = []
    /// Emails per second through the server, shared by every daemon; 0 is unlimited.
    var ratePerSecond = 0
    /// Emails that may go at once after a quiet spell.
    var rateBurst = 10

    init(config: ConfigReader) throws(ConfigurationError) {
        let host = config.optionalString("email.host")
        var smtp = SMTPSettings(host: host ?? "", port: 587)
        smtp.port = try config.int("email.port", smtp.port, 1...65_535)
        let tls = config.string(forKey: "email.tls", default: smtp.tls.rawValue)
        guard let mode = SMTPSettings.TLSMode(rawValue: tls) else {
            throw ConfigurationError(
                key: "email.tls", reason: "must be one of \(SMTPSettings.TLSMode.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        smtp.tls = mode
        smtp.caCertificatePath = config.optionalString("email.caCertificate")
        smtp.serverName = config.optionalString("email.serverName")
        smtp.username = config.optionalString("email.username")
        smtp.password = config.string(forKey: "email.password", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        smtp.heloName = config.string(forKey: "email.heloName", default: smtp.heloName)
        smtp.poolSize = try config.int("email.poolSize", smtp.poolSize, 1...64)
        smtp.idleTimeout = .seconds(try config.int("email.idleTimeoutSeconds", Int(smtp.idleTimeout.components.seconds), 1...3600))
        smtp.replyTimeout = .seconds(try config.int("email.replyTimeoutSeconds", Int(smtp.replyTimeout.components.seconds), 1...600))
        from = config.string(forKey: "email.from", default: from)
        fromName = config.optionalString("email.fromName")
        unsubscribeURL = config.optionalString("email.unsubscribeUrl")
        let secrets = [
            ("email.unsubscribeSecret", config.string(forKey: "email.unsubscribeSecret", isSecret: true)),
            ("email.unsubscribePreviousSecret", config.string(forKey: "email.unsubscribePreviousSecret", isSecret: true)),
        ]
        for (key, secret) in secrets {
            guard let secret, !secret.isEmpty else { continue }
            guard secret.count >= UnsubscribeSigner.minimumSecretLength else {
                throw ConfigurationError(key: key, reason: "must be at least \(UnsubscribeSigner.minimumSecretLength) characters")
            }
            guard key == "email.unsubscribeSecret" || !unsubscribeSecrets.isEmpty else {
                throw ConfigurationError(key: key, reason: "needs email.unsubscribeSecret beside it")
            }
            unsubscribeSecrets.append(secret)
        }
        if unsubscribeURL?.contains("{token}") == true, unsubscribeSecrets.isEmpty {
            throw ConfigurationError(
                key: "email.unsubscribeSecret", reason: "must be set (environment or credential) when email.unsubscribeUrl has {token}")
        }
        ratePerSecond = try config.int("email.ratePerSecond", ratePerSecond, 0...1_000_000)
        rateBurst = try config.int("email.rateBurst", rateBurst, 1...10_000)
        providers = config.stringArray(forKey: "email.providers", default: providers).filter { !$0.isEmpty }
        guard Set(providers).isSubset(of: ["smtp", "ses"]), Set(providers).count == providers.count else {
            throw ConfigurationError(key: "email.providers", reason: "must list smtp and ses at most once each")
        }
        ses = try Self.ses(config: config)
        guard host != nil || ses != nil else { return }
        guard (try? ContactAddress.email(from)) != nil, from.utf8.allSatisfy({ $0 < 0x80 }) else {
            throw ConfigurationError(key: "email.from", reason: "must be an ASCII email address when email.host or ses.region is set")
        }
        guard let host else { return }
        if mode == .none, !["127.0.0.1", "::1", "localhost"].contains(host) {
            throw ConfigurationError(key: "email.tls", reason: "may only be none for a server on loopback")
        }
        if smtp.username != nil, smtp.password == nil {
            throw ConfigurationError(key: "email.password", reason: "must be set (environment or credential) when email.username is")
        }
        self.smtp = smtp
    }

    var rateLimit: RateLimit? { ratePerSecond > 0 ? RateLimit(perSecond: Double(ratePerSecond), burst: rateBurst) : nil }

    /// `ses.*`: configured when `ses.region` is. The secret key comes from `NOTIFY_SES_SECRET_ACCESS_KEY` or the
    /// credential `notify-ses-secret-access-key` (and a session token, for temporary keys, likewise). With
    /// `ses.eventsTopicArn`, the configuration set's events come back through that SNS topic as receipts.
    static func ses(config: ConfigReader) throws(ConfigurationError) -> SESSettings? {
        let endpoint = config.optionalString("ses.endpoint")
        let timeout = try config.int("ses.timeoutSeconds", 15, 1...300)
        let rate = try config.int("ses.ratePerSecond", 0, 0...1_000_000)
        let burst = try config.int("ses.rateBurst", 10, 1...10_000)
        let configurationSet = config.optionalString("ses.configurationSet")
        let topic = config.optionalString("ses.eventsTopicArn")
        let certificatePrefix = config.optionalString("ses.eventsCertificateUrlPrefix")
        let key = config.optionalString("ses.accessKeyId")
        let secret = config.string(forKey: "ses.secretAccessKey", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        let token = config.string(forKey: "ses.sessionToken", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        guard let region = config.optionalString("ses.region") else { return nil }
        guard region.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) }) else {
            throw ConfigurationError(key: "ses.region", reason: "must be an AWS region such as eu-west-1")
        }
        guard let key, let secret else {
            throw ConfigurationError(key: "ses.secretAccessKey", reason: "and ses.accessKeyId must be set when ses.region is")
        }
        var settings = SESSettings(
            region: region, endpoint: try endpoint.map { (value) throws(ConfigurationError) in try config.httpURL("ses.endpoint", value) },
            accessKeyID: key, secretAccessKey: secret)
        settings.sessionToken = token
        settings.configurationSet = configurationSet
        settings.timeout = .seconds(timeout)
        settings.rateLimit = rate > 0 ? RateLimit(perSecond: Double(rate), burst: burst) : nil
        if let topic {
            guard topic.hasPrefix("arn:aws:sns:"), topic.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw ConfigurationError(key: "ses.eventsTopicArn", reason: "must be an SNS topic's ARN (arn:aws:sns:…)")
            }
            guard configurationSet != nil else {
                throw ConfigurationError(
                    key: "ses.configurationSet", reason: "must name the configuration set whose events go to ses.eventsTopicArn")
            }
            let prefix = try ConfigReader.checkedURL(
                certificatePrefix ?? "https://sns.\(region).amazonaws.com", key: "ses.eventsCertificateUrlPrefix")
            settings.events = SESSettings.Events(topicARN: topic, certificateURLPrefix: prefix + "/")
        }
        return settings
    }
}

/// `twilio.*`: the Twilio account SMS go through. Without `twilio.accountSid` there is no SMS provider and SMS
/// deliveries are recorded `skipped` (`no-provider`). The auth token comes from `NOTIFY_TWILIO_AUTH_TOKEN` or the
/// credential `notify-twilio-auth-token`.
struct TwilioSection: Sendable, Equatable {
    /// The account's settings; nil when no SMS provider is configured.
    var account: TwilioSettings?
    var baseURL = "https://api.twilio.com"
    /// The catalog's SMS limit; an account's own limit may be lower (Twilio queues what is over it).
    var ratePerSecond = 10
    var rateBurst = 10
    var timeoutSeconds = 15

    init(config: ConfigReader, receiptBaseURL: String?) throws(ConfigurationError) {
        baseURL = try config.httpURL("twilio.baseUrl", baseURL)
        ratePerSecond = try config.int("twilio.ratePerSecond", ratePerSecond, 0...100_000)
        rateBurst = try config.int("twilio.rateBurst", rateBurst, 1...10_000)
        timeoutSeconds = try config.int("twilio.timeoutSeconds", timeoutSeconds, 1...300)
        let from = config.optionalString("twilio.from")
        let service = config.optionalString("twilio.messagingServiceSid")
        let token = config.string(forKey: "twilio.authToken", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        guard let account = config.optionalString("twilio.accountSid") else { return }
        guard account.utf8.allSatisfy({ $0 < 0x80 && $0 > 0x20 && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") }) else {
            throw ConfigurationError(key: "twilio.accountSid", reason: "must be an account SID (letters and digits)")
        }
        guard let token else {
            throw ConfigurationError(key: "twilio.authToken", reason: "must be set (environment or credential) when twilio.accountSid is")
        }
        guard from != nil || service != nil else {
            throw ConfigurationError(key: "twilio.from", reason: "or twilio.messagingServiceSid must be set when twilio.accountSid is")
        }
        var settings = TwilioSettings(accountSID: account, authToken: token)
        settings.baseURL = baseURL
        settings.from = from
        settings.messagingServiceSID = service
        settings.statusCallbackURL = receiptBaseURL.map { "\($0)/receipts/twilio" }
        settings.timeout = .seconds(timeoutSeconds)
        settings.rateLimit = ratePerSecond > 0 ? RateLimit(perSecond: Double(ratePerSecond), burst: rateBurst) : nil
        self.account = settings
    }
}

extension ConfigReader {
    /// An http(s) URL without a trailing slash, query or fragment; plain `http` only to a server on loopback
    /// (credentials and messages cross it).
    func httpURL(_ key: String, _ fallback: String) throws(ConfigurationError) -> String {
        try Self.checkedURL(string(forKey: ConfigKey(key), default: fallback), key: key)
    }

    /// `value` as `httpURL` accepts it, the key named in the error.
    static func checkedURL(_ value: String, key: String) throws(ConfigurationError) -> String {
        var value = value
        while value.hasSuffix("/") { value.removeLast() }
        guard let url = URL(string: value), let scheme = url.scheme, let host = url.host, url.query == nil, url.fragment == nil,
            scheme == "https" || scheme == "http"
        else { throw ConfigurationError(key: key, reason: "must be an http(s) URL without a query") }
        if scheme == "http", !["127.0.0.1", "::1", "[::1]", "localhost"].contains(host) {
            throw ConfigurationError(key: key, reason: "must be https unless the server is on loopback")
        }
        return value
    }
}

/// `fcm.*`: Firebase Cloud Messaging for `fcm` push tokens. Configured when the service account's JSON key is
/// given (`NOTIFY_FCM_SERVICE_ACCOUNT` or the credential `notify-fcm-service-account`); without it push
/// deliveries are recorded `skipped` (`no-provider`).
struct FCMSection: Sendable, Equatable {
    var fcm: FCMSettings?
    var endpoint = "https://fcm.googleapis.com"
    var timeoutSeconds = 15
    var ratePerSecond = 0
    var rateBurst = 100

    init(config: ConfigReader) throws(ConfigurationError) {
        endpoint = try config.httpURL("fcm.endpoint", endpoint)
        timeoutSeconds = try config.int("fcm.timeoutSeconds", timeoutSeconds, 1...300)
        ratePerSecond = try config.int("fcm.ratePerSecond", ratePerSecond, 0...1_000_000)
        rateBurst = try config.int("fcm.rateBurst", rateBurst, 1...10_000)
        let project = config.optionalString("fcm.projectId")
        guard let account = config.string(forKey: "fcm.serviceAccount", isSecret: true).flatMap({ $0.isEmpty ? nil : $0 }) else { return }
        var settings: FCMSettings
        do {
            settings = try FCMSettings(serviceAccount: Array(account.utf8), projectID: project)
        } catch {
            throw ConfigurationError(key: "fcm.serviceAccount", reason: "is unusable: \(error)")
        }
        settings.tokenURL = try ConfigReader.checkedURL(settings.tokenURL, key: "fcm.serviceAccount")
        settings.endpoint = endpoint
        settings.timeout = .seconds(timeoutSeconds)
        settings.rateLimit = ratePerSecond > 0 ? RateLimit(perSecond: Double(ratePerSecond), burst: rateBurst) : nil
        fcm = settings
    }
}

/// `apns.*`: Apple's push service for `apns` push tokens, with a token-signing key (`AuthKey_<keyId>.p8`).
/// Configured when `apns.teamId` is; the key comes from `NOTIFY_APNS_PRIVATE_KEY` or the credential
/// `notify-apns-private-key`.
struct APNsSection: Sendable, Equatable {
    var apns: APNsSettings?
    var endpoint = APNsSettings.production
    var timeoutSeconds = 15
    var ratePerSecond = 0
    var rateBurst = 100
    var expirationSeconds = 86_400
    var tokenRefreshMinutes = 40

    init(config: ConfigReader) throws(ConfigurationError) {
        endpoint = try config.httpURL("apns.endpoint", endpoint)
        timeoutSeconds = try config.int("apns.timeoutSeconds", timeoutSeconds, 1...300)
        ratePerSecond = try config.int("apns.ratePerSecond", ratePerSecond, 0...1_000_000)
        rateBurst = try config.int("apns.rateBurst", rateBurst, 1...10_000)
        expirationSeconds = try config.int("apns.expirationSeconds", expirationSeconds, 0...86_400 * 30)
        tokenRefreshMinutes = try config.int("apns.tokenRefreshMinutes", tokenRefreshMinutes, 20...59)
        let keyID = config.optionalString("apns.keyId")
        let topic = config.optionalString("apns.topic")
        let key = config.string(forKey: "apns.privateKey", isSecret: true).flatMap { $0.isEmpty ? nil : $0 }
        guard let team = config.optionalString("apns.teamId") else { return }
        for (name, value) in [("apns.teamId", team), ("apns.keyId", keyID ?? "")] {
            guard value.count == 10, value.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) }) else {
                throw ConfigurationError(key: name, reason: "must be Apple's 10-character id (capitals and digits)")
            }
        }
        guard let topic, !topic.isEmpty, topic.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw ConfigurationError(key: "apns.topic", reason: "must be the app's bundle id when apns.teamId is set")
        }
        guard let key else {
            throw ConfigurationError(key: "apns.privateKey", reason: "must be set (environment or credential) when apns.teamId is")
        }
        var settings = APNsSettings(teamID: team, keyID: keyID!, privateKeyPEM: key, topic: topic)
        settings.endpoint = endpoint
        settings.timeout = .seconds(timeoutSeconds)
        settings.rateLimit = ratePerSecond > 0 ? RateLimit(perSecond: Double(ratePerSecond), burst: rateBurst) : nil
        settings.expirationSeconds = expirationSeconds
        settings.tokenLifetime = .seconds(tokenRefreshMinutes * 60)
        apns = settings
    }
}

/// `webhooks.*`: webhooks as a channel, to the endpoints recipients registered. On by default: nothing is sent
/// unless a rule names the channel and a recipient has an endpoint.
struct WebhookSettings: Sendable, Equatable {
    var enabled = true
    var timeoutSeconds = 15
    var policy = EgressPolicy()
    var ratePerSecond = 0
    var rateBurst = 100

    init(config: ConfigReader) throws(ConfigurationError) {
        enabled = config.bool(forKey: "webhooks.enabled", default: enabled)
        timeoutSeconds = try config.int("webhooks.timeoutSeconds", timeoutSeconds, 1...60)
        policy.allowLoopback = config.bool(forKey: "webhooks.allowLoopback", default: policy.allowLoopback)
        policy.allowPrivateNetworks = config.bool(forKey: "webhooks.allowPrivateNetworks", default: policy.allowPrivateNetworks)
        ratePerSecond = try config.int("webhooks.ratePerSecond", ratePerSecond, 0...1_000_000)
        rateBurst = try config.int("webhooks.rateBurst", rateBurst, 1...10_000)
    }

    var rateLimit: RateLimit? { ratePerSecond > 0 ? RateLimit(perSecond: Double(ratePerSecond), burst: rateBurst) : nil }
}
