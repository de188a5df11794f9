import Foundation

/// A request about one key: `{keyId?}`, the caller's own key when left out.
public protocol KeyRequest: CommandRequest {
    var keyID: String? { get }
    init(keyID: String?)
}

extension KeyRequest {
    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do { self.init(keyID: try fields.optionalKeyID("keyId")) } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object(keyID.map { [("keyId", .string($0))] } ?? []) }
}

/// `RotateApiKey {keyId?}`: a new key with the same owner and scopes; the old one keeps working for the grace period
/// (`auth.rotationGraceSeconds`), so its users can move over. A product's key may rotate its own key and its
/// organisations' (not while it is in its own grace); an organisation's key its own; the admin any.
public struct RotateAPIKey: KeyRequest, Equatable {
    public static let command = Command.rotateAPIKey
    public var keyID: String?
    public init(keyID: String?) { self.keyID = keyID }
}

/// `RevokeApiKey {keyId?}`: the key stops working at once, on every daemon.
public struct RevokeAPIKey: KeyRequest, Equatable {
    public static let command = Command.revokeAPIKey
    public var keyID: String?
    public init(keyID: String?) { self.keyID = keyID }
}

/// `CreateServiceKey {name, scopes}` (admin, an extension): a key for one of FlowMart's own services, which belongs to
/// no tenant and may hold only the inbox, recipient and tracking scopes.
public struct CreateServiceKey: CommandRequest, Equatable {
    public static let command = Command.createServiceKey
    public var name: String
    public var scopes: [Scope]

    public init(name: String, scopes: [Scope]) {
        self.name = name
        self.scopes = scopes
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            name = try fields.name("name")
            let allowed = Scope.service.map(\.rawValue).joined(separator: ", ")
            guard let raw = try fields.optionalStrings("scopes", maxCount: Scope.allCases.count), !raw.isEmpty else {
                throw Rejection(.schema, "field 'scopes' must list 1 or more of \(allowed)")
            }
            scopes = try Set(
                raw.map { (text) throws(Rejection) in
                    guard let scope = Scope(rawValue: text), Scope.service.contains(scope) else {
                        throw Rejection(.schema, "field 'scopes' may hold only \(allowed)")
                    }
                    return scope
                }
            ).sorted()
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

extension Access {
    /// Refuses `principal` the rotation or revocation of `owner`'s key unless it is its own key, the admin, or a
    /// product's key (with `manage`) and `owner` an organisation's of that product. Never another product-level key of
    /// the product (its own successor included: a leaked key must not revoke, or rotate away, the key its owner moved
    /// to), and never by a key in its grace (one with a successor), which may handle only itself. What the caller may
    /// not reach is 404, as an unknown id; a key in its grace is 403.
    public static func authorise(_ principal: Principal, toManage owner: KeyOwner) throws(CommandFailure) {
        if principal.isAdmin || owner.keyID == principal.keyID { return }
        guard let tenant = principal.tenant, tenant.organizationID == nil, principal.scopes.contains(.manage),
            let other = owner.tenant, other.productID == tenant.productID, other.organizationID != nil
        else { throw .notFound("no key with this keyId") }
        guard !principal.hasSuccessor else {
            throw .forbidden("a rotated key manages no key but itself during its grace: use its successor")
        }
    }
}
