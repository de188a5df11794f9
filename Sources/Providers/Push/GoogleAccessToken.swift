import AsyncHTTPClient
import Foundation
import JWTKit
import NotifyCore

/// A Google OAuth 2.0 access token for a service account (Google's "OAuth 2.0 for server to server"): an RS256
/// JWT assertion `{iss, scope, aud, iat, exp}` posted to the token URL, the token cached and refreshed five
/// minutes before it expires. One exchange at a time, however many batches ask.
actor GoogleAccessToken {
    static let scope = "https://www.googleapis.com/auth/firebase.messaging"

    struct Assertion: JWTPayload {
        var iss: IssuerClaim
        var scope: String
        var aud: AudienceClaim
        var iat: IssuedAtClaim
        var exp: ExpirationClaim
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    private let settings: FCMSettings
    private let transport: HTTPTransport
    private let keys: JWTKeyCollection
    private var cached: (token: String, expires: Date)?
    private var exchanging: Task<Result<(String, Date), DeliveryFailure>, Never>?

    init(settings: FCMSettings, transport: HTTPTransport) async throws(ProviderSetupError) {
        self.settings = settings
        self.transport = transport
        let key: Insecure.RSA.PrivateKey
        do {
            key = try Insecure.RSA.PrivateKey(pem: settings.privateKeyPEM)
        } catch {
            throw ProviderSetupError("the FCM service account's private key is not an RSA key of at least 2048 bits")
        }
        keys = JWTKeyCollection()
        await keys.add(rsa: key, digestAlgorithm: .sha256, kid: settings.privateKeyID.map { JWKIdentifier(string: $0) })
    }

    /// A token valid for at least five more minutes, or why there is none.
    func token(now: Date = Date()) async -> Result<String, DeliveryFailure> {
        if let cached, cached.expires.timeIntervalSince(now) > 300 { return .success(cached.token) }
        let task = exchanging ?? Task { await exchange(now: now) }
        exchanging = task
        let result = await task.value
        exchanging = nil
        switch result {
        case .success(let (token, expires)):
            cached = (token, expires)
            return .success(token)
        case .failure(let failure):
            return .failure(failure)
        }
    }

    /// Forgets the token (FCM answered 401 to it), so the next batch gets a new one.
    func invalidate() { cached = nil }

    private func exchange(now: Date) async -> Result<(String, Date), DeliveryFailure> {
        let assertion: String
        // Whole seconds: Google wants NumericDate integers.
        let issued = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        do {
            assertion = try await keys.sign(
                Assertion(
                    iss: IssuerClaim(value: settings.clientEmail), scope: Self.scope, aud: AudienceClaim(value: settings.tokenURL),
                    iat: IssuedAtClaim(value: issued), exp: ExpirationClaim(value: issued.addingTimeInterval(3600))))
        } catch {
            return .failure(DeliveryFailure(code: "fcm-assertion", .provider, detail: "cannot sign the service account's assertion"))
        }
        guard var request = try? HTTPClient.Request(url: settings.tokenURL, method: .POST) else {
            return .failure(DeliveryFailure(code: "bad-url", .provider, detail: "the service account's token_uri is not a usable URL"))
        }
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.body = .string(
            FormEncoding.encode([
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", assertion),
            ]))
        switch await transport.execute([request], timeout: settings.timeout)[0] {
        case .failure(let failure):
            return .failure(failure)
        case .success(let response):
            let fields = try? JSONInput().object(from: response.body)
            guard response.status == 200, let token = fields?["access_token"] as? String, !token.isEmpty else {
                // 400/401 (`invalid_grant`, a revoked key): nothing can be sent until the account is fixed.
                let reason = fields?["error"] as? String ?? "HTTP \(response.status)"
                let failureClass: DeliveryFailure.Class = (400...499).contains(response.status) ? .provider : .transient
                return .failure(DeliveryFailure(code: "fcm-token", failureClass, detail: "token exchange refused: \(reason.prefix(200))"))
            }
            let lifetime = (fields?["expires_in"] as? NSNumber)?.doubleValue ?? 3600
            return .success((token, now.addingTimeInterval(Swift.min(Swift.max(lifetime, 60), 86_400))))
        }
    }
}
