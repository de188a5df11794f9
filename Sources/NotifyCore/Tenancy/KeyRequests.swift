import Foundation

/// A request about one key: `{keyId?}`, the caller's own key when left out.
public protocol KeyRequest: RPCRequest {
    var keyID: String? { get }
    init(keyID: String?)
}

extension KeyRequest {
    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do { self.init(keyID: try fields.optionalKeyID("keyId")) } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object(keyID.map { [("keyId", .string($0))] } ?? []) }
}

/// `RotateApiKey {keyId?}`: a new key with the same owner and scopes; the old one keeps working for the grace period
/// (`auth.rotationGraceSeconds`), so its users can move over. A product's key may rotate its own key and its
/// organisations'; an organisation's key its own; the admin any.
public struct RotateAPIKey: KeyRequest, Equatable {
    public static let command = RPCCommand.rotateAPIKey
    public var keyID: String?
    public init(keyID: String?) { self.keyID = keyID }
}

/// `RevokeApiKey {keyId?}`: the key stops working at once, on every daemon.
public struct RevokeAPIKey: KeyRequest, Equatable {
    public static let command = RPCCommand.revokeAPIKey
    public var keyID: String?
    public init(keyID: String?) { self.keyID = keyID }
}

/// `CreateServiceKey {name, scopes}` (admin, an extension): a key for one of FlowMart's own services, which belongs to
/// no tenant and may hold only the inbox, recipient and tracking scopes.
public struct CreateServiceKey: RPCRequest, Equatable {
    public static let command = RPCCommand.createServiceKey
    public var name: String
    public var scopes: [Scope]

    public init(name: String, scopes: [Scope]) {
        self.name = name
        self.scopes = scopes
    }

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do throws(Rejection) {
            name = try fields.name("name")
            let allowed = Scope.service.map(\.rawValue).joined(separator: ", ")
            guard let raw = try fields.optionalStrings("scopes", maxCount: Scope.allCases.count), !raw.isEmpty else {
                throw Rejection(.schema, "field 'scopes' must list 1 or more of \(allowed)")
            }
            scopes = try Set(raw.map { (text) throws(Rejection) in
                guard let scope = Scope(rawValue: text), Scope.service.contains(scope) else {
                    throw Rejection(.schema, "field 'scopes' may hold only \(allowed)")
                }
                return scope
            }).sorted()
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object([("name", .string(name)), ("scopes", .array(scopes.map { .string($0.rawValue) }))]) }
}

/// A stored key as `RotateApiKey` and `RevokeApiKey` see it: whose it is.
public struct KeyOwner: Sendable, Equatable {
    public var keyID: String
    public var scopes: [Scope]
    public var tenant: Tenant?
    public var name: String?

    public init(keyID: String, scopes: [Scope], tenant: Tenant?, name: String? = nil) {
        self.keyID = keyID
        self.scopes = scopes
        self.tenant = tenant
        self.name = name
    }
}

extension Principal {
    /// Whether this caller may rotate or revoke `owner`'s key: its own, its product's organisations' (with `manage`),
    /// or any (admin). A service key may handle only itself.
    public func mayManage(_ owner: KeyOwner) -> Bool {
        if isAdmin || owner.keyID == keyID { return true }
        guard let tenant, let other = owner.tenant, scopes.contains(.manage) else { return false }
        return tenant.organizationID == nil && other.productID == tenant.productID
    }
}
