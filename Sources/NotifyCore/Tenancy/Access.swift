import Foundation

/// A product, or an organisation under it: whose data a key may see.
public struct Tenant: Sendable, Equatable, Hashable {
    public var productID: UUID
    public var organizationID: UUID?

    public init(productID: UUID, organizationID: UUID? = nil) {
        self.productID = productID
        self.organizationID = organizationID
    }

    /// Whose recipient directory the tenant's user ids are in: an organisation's own, else its product's. A product's
    /// "u-1" and FlowMart's "u-1" are different people.
    public var namespace: UUID { organizationID ?? productID }

    /// The namespace of FlowMart's own users (the events' and the inbox's).
    public static let flowMart = UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))
}

extension Optional where Wrapped == Tenant {
    /// The recipient namespace of a tenant, or FlowMart's.
    public var namespace: UUID { self?.namespace ?? Tenant.flowMart }
}

/// Whose notifications a caller's tracking queries read: the admin everyone's, FlowMart's service keys FlowMart's own
/// (the events'), a tenant's key its product's, or only its organisation's.
public enum Visibility: Sendable, Equatable {
    case everyone
    case flowMart
    case tenant(Tenant)

    /// Whether nothing is filtered.
    public var isEveryone: Bool { self == .everyone }
    /// The product whose rows are read (nil with `flowMart`: rows of no product).
    public var productID: UUID? { if case .tenant(let tenant) = self { tenant.productID } else { nil } }
    public var organizationID: UUID? { if case .tenant(let tenant) = self { tenant.organizationID } else { nil } }
}

/// A stored key as the store reads it for a request: its hash, its grants and the state of its owner.
public struct KeyRecord: Sendable, Equatable {
    public var id: String
    public var hash: String
    public var scopes: [Scope]
    /// Nil for a service key (FlowMart's own services).
    public var tenant: Tenant?
    public var productActive: Bool
    public var organizationActive: Bool
    public var revoked: Bool
    /// Past the grace period a rotation gave it (by the database's clock).
    public var expired: Bool
    /// The owner's own send quotas (nil: the deployment's).
    public var quotas: TenantQuotas

    public init(id: String, hash: String, scopes: [Scope], tenant: Tenant?, productActive: Bool = true,
                organizationActive: Bool = true, revoked: Bool = false, expired: Bool = false, quotas: TenantQuotas = TenantQuotas()) {
        self.quotas = quotas
        self.id = id
        self.hash = hash
        self.scopes = scopes
        self.tenant = tenant
        self.productActive = productActive
        self.organizationActive = organizationActive
        self.revoked = revoked
        self.expired = expired
    }
}

/// Who made a request, once its credential was checked.
public struct Principal: Sendable, Equatable {
    /// The key's id; nil for the admin credential and for the broker.
    public var keyID: String?
    public var scopes: Set<Scope>
    /// The tenant whose data it may see; nil for the admin, the broker and service keys.
    public var tenant: Tenant?
    /// What the audit trail and the log name it: `admin`, `key:<id>` or `broker`.
    public var actor: String
    /// Its tenant's own send quotas, read with the key.
    public var quotas = TenantQuotas()

    /// The admin credential (`auth.adminKey`).
    public static let admin = Principal(keyID: nil, scopes: [.admin], tenant: nil, actor: "admin")
    /// A caller of an inbox command the deployment leaves to the broker's permissions (`auth.inboxRequiresKey`).
    public static let broker = Principal(keyID: nil, scopes: Scope.inbox, tenant: nil, actor: "broker")

    public init(keyID: String?, scopes: Set<Scope>, tenant: Tenant?, actor: String) {
        self.keyID = keyID
        self.scopes = scopes
        self.tenant = tenant
        self.actor = actor
    }

    public var isAdmin: Bool { scopes.contains(.admin) }

    /// Whose notifications and deliveries its tracking queries read.
    public var visibility: Visibility {
        if isAdmin { return .everyone }
        return tenant.map(Visibility.tenant) ?? .flowMart
    }

    /// Whether this caller may see and change what belongs to `product` (and, when given, `organization`): the admin
    /// and service keys always (service keys' commands carry no tenant's data), a product's key everything of its
    /// product, an organisation's key only its own organisation.
    public func reaches(product: UUID?, organization: UUID? = nil) -> Bool {
        guard let tenant else { return true }
        guard product == tenant.productID else { return false }
        return tenant.organizationID == nil || tenant.organizationID == organization
    }
}

/// The decisions about credentials, without I/O: the store reads the key's record, these say what it means.
public enum Access {
    /// The principal behind `key`, given its stored record (nil: no such key). A wrong secret, a revoked key and a
    /// rotated key past its grace are all 401 with the same message, so a caller cannot tell them apart; a
    /// deactivated product or organisation is 403.
    public static func principal(for key: APIKey, record: KeyRecord?) throws(RPCFailure) -> Principal {
        guard let record, APIKey.hashesMatch(key.hash, record.hash), !record.revoked, !record.expired else {
            throw .unauthorized("the x-api-key is unknown, revoked or expired")
        }
        guard record.productActive else { throw .forbidden("the key's product is deactivated") }
        guard record.organizationActive else { throw .forbidden("the key's organization is deactivated") }
        var principal = Principal(keyID: record.id, scopes: Set(record.scopes), tenant: record.tenant, actor: "key:\(record.id)")
        principal.quotas = record.quotas
        return principal
    }

    /// Refuses `command` to a principal that holds none of its scopes; keys are handled only with a key (or as admin).
    public static func authorise(_ principal: Principal, _ command: RPCCommand) throws(RPCFailure) {
        if command == .rotateAPIKey || command == .revokeAPIKey, principal.keyID == nil, !principal.isAdmin {
            throw .forbidden("\(command.rawValue) needs an x-api-key")
        }
        guard principal.isAdmin || !principal.scopes.isDisjoint(with: command.scopes) else {
            let needed = command.scopes.sorted().map(\.rawValue).joined(separator: " or ")
            throw .forbidden("\(command.rawValue) needs the scope \(needed)")
        }
    }
}
