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
    /// Rotated: it has a successor and works only through its grace.
    public var hasSuccessor: Bool
    /// The owner's own send quotas (nil: the deployment's).
    public var quotas: TenantQuotas

    public init(
        id: String, hash: String, scopes: [Scope], tenant: Tenant?, productActive: Bool = true,
        organizationActive: Bool = true, revoked: Bool = false, expired: Bool = false, hasSuccessor: Bool = false,
        quotas: TenantQuotas = TenantQuotas()
    ) {
        self.quotas = quotas
        self.hasSuccessor = hasSuccessor
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
    /// Its key was rotated and is in its grace: it may still act, but manage no key but itself (`Access.authorise(_:toManage:)`).
    public var hasSuccessor = false

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
    /// always, a product's key everything of its product, an organisation's key only its own organisation, service
    /// keys and the broker nothing (FlowMart's own data belongs to no tenant). Decided from `visibility`, as tracking
    /// is, so that having no tenant never reads as reaching every tenant: only the admin does.
    public func reaches(product: UUID?, organization: UUID? = nil) -> Bool {
        switch visibility {
        case .everyone: true
        case .flowMart: false
        case .tenant(let tenant): product == tenant.productID && (tenant.organizationID == nil || tenant.organizationID == organization)
        }
    }
}

extension KeyRecord {
    /// Who holds this key, once its secret matched: what the audit trail and the log name it by.
    public var principal: Principal {
        var principal = Principal(keyID: id, scopes: Set(scopes), tenant: tenant, actor: "key:\(id)")
        principal.quotas = quotas
        principal.hasSuccessor = hasSuccessor
        return principal
    }
}

/// The decisions about credentials, without I/O: the store reads the key's record, these say what it means.
public enum Access {
    /// The record of `key` once its secret matched a key that still works (nil record: no such key). A wrong secret,
    /// a revoked key and a rotated key past its grace are all 401 with the same message, so a caller cannot tell
    /// them apart; until this succeeds, nothing the key claims (its id) names the caller anywhere.
    public static func authenticate(_ key: APIKey, record: KeyRecord?) throws(CommandFailure) -> KeyRecord {
        guard let record, APIKey.hashesMatch(key.hash, record.hash), !record.revoked, !record.expired else {
            throw .unauthorized("the x-api-key is unknown, revoked or expired")
        }
        return record
    }

    /// The caller as its key stands now, read again (its row locked) in the transaction of what it changes: a key
    /// revoked or expired since it authenticated is 401, as it would be if it came now, so nothing it mints can be
    /// written after its revocation's cascade ran. The admin and the broker (no key) are returned as they are.
    public static func stillActing(_ principal: Principal, live: Bool, hasSuccessor: Bool) throws(CommandFailure) -> Principal {
        guard principal.keyID != nil else { return principal }
        guard live else { throw .unauthorized("the x-api-key is unknown, revoked or expired") }
        var principal = principal
        principal.hasSuccessor = hasSuccessor
        return principal
    }

    /// Refuses an authenticated key whose product or organisation is deactivated (403).
    public static func admit(_ record: KeyRecord) throws(CommandFailure) {
        guard record.productActive else { throw .forbidden("the key's product is deactivated") }
        guard record.organizationActive else { throw .forbidden("the key's organization is deactivated") }
    }

    /// Refuses `command` to a principal that holds none of its scopes; keys are handled only with a key (or as admin).
    public static func authorise(_ principal: Principal, _ command: Command) throws(CommandFailure) {
        if command == .rotateAPIKey || command == .revokeAPIKey, principal.keyID == nil, !principal.isAdmin {
            throw .forbidden("\(command.rawValue) needs an x-api-key")
        }
        guard principal.isAdmin || !principal.scopes.isDisjoint(with: command.scopes) else {
            let needed = command.scopes.sorted().map(\.rawValue).joined(separator: " or ")
            throw .forbidden("\(command.rawValue) needs the scope \(needed)")
        }
    }
}
