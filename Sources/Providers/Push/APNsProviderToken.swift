import Foundation
import JWTKit
import NotifyCore

/// The APNs provider token: an ES256 JWT `{alg, kid}` `{iss: team, iat}` that every request and every HTTP/2
/// connection of this daemon shares, signed anew once `tokenLifetime` has passed (Apple wants 20 to 60 minutes).
actor APNsProviderToken {
    struct Claims: JWTPayload {
        var iss: IssuerClaim
        var iat: IssuedAtClaim
        func verify(using algorithm: some JWTAlgorithm) throws {}
    }

    private let settings: APNsSettings
    private let keys = JWTKeyCollection()
    private var cached: (token: String, issued: Date)?
    private var signing: Task<(token: String, issued: Date)?, Never>?

    init(settings: APNsSettings) async throws(ProviderSetupError) {
        self.settings = settings
        let key: ES256PrivateKey
        do {
            key = try ES256PrivateKey(pem: settings.privateKeyPEM)
        } catch {
            throw ProviderSetupError("the APNs key is not a P-256 private key in PEM")
        }
        await keys.add(ecdsa: key, kid: JWKIdentifier(string: settings.keyID))
    }

    /// The current token, or a new one when it is older than `tokenLifetime`. Concurrent callers that find no
    /// token share one signing: the actor is re-entered while `sign` suspends, and each of them signing its own
    /// would hand APNs several tokens at once, which it throttles (`TooManyProviderTokenUpdates`).
    func token(now: Date = Date()) async -> Result<String, DeliveryFailure> {
        let lifetime = Double(settings.tokenLifetime.components.seconds)
        if let cached, now.timeIntervalSince(cached.issued) < lifetime { return .success(cached.token) }
        let pending: Task<(token: String, issued: Date)?, Never>
        if let signing {
            pending = signing
        } else {
            // Whole seconds: `iat` is a NumericDate integer.
            let issued = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
            let claims = Claims(iss: IssuerClaim(value: settings.teamID), iat: IssuedAtClaim(value: issued))
            let (keys, kid) = (keys, JWKIdentifier(string: settings.keyID))
            pending = Task { (try? await keys.sign(claims, kid: kid)).map { ($0, issued) } }
            signing = pending
        }
        let signed = await pending.value
        if signing == pending { signing = nil }
        guard let signed else {
            return .failure(DeliveryFailure(code: "apns-token", .provider, detail: "cannot sign the APNs provider token"))
        }
        if cached.map({ $0.issued < signed.issued }) ?? true { cached = signed }
        return .success(signed.token)
    }

    /// Forgets the token APNs called expired, so the next request signs a new one.
    func expired(_ token: String) {
        if cached?.token == token { cached = nil }
    }
}
