import Foundation
import NotifyCore
import Postgres

/// Products, organisations and API keys. Every change is one transaction with its audit rows, which `TenantAudit`
/// decides from what the change read under its locks.
public enum TenantStore {
    // MARK: - Keys for requests

    /// The record of key `id` as `Access.authenticate` needs it: its hash, grants, and whether it and its owner still work.
    public static func keyRecord(_ id: String, on db: PGConnection) throws -> KeyRecord? {
        guard
            let row = try db.query(
                """
                SELECT k.key_hash, array_to_string(k.scopes, ','), k.product_id::text, k.organization_id::text,
                       COALESCE(p.active, true), COALESCE(o.active, true), k.revoked_at IS NOT NULL, COALESCE(k.expires_at <= now(), false),
                       p.quota_per_second, p.quota_burst, o.quota_per_second, o.quota_burst, k.replaced_by IS NOT NULL
                FROM api_keys k
                LEFT JOIN products p ON p.id = k.product_id
                LEFT JOIN organizations o ON o.id = k.organization_id
                WHERE k.id = \(id)
                """, prepared: true
            ).first
        else { return nil }
        return KeyRecord(
            id: id, hash: try row.decode(0), scopes: scopes(try row.decode(1)),
            tenant: try tenant(row.decodeIfPresent(2, as: UUID.self), row.decodeIfPresent(3, as: UUID.self)),
            productActive: try row.decode(4), organizationActive: try row.decode(5), revoked: try row.decode(6),
            expired: try row.decode(7), hasSuccessor: try row.decode(12),
            quotas: TenantQuotas(product: try quota(row, 8), organization: try quota(row, 10)))
    }

    /// The quota in columns `first` and `first + 1` (per second, burst); nil when they are NULL.
    private static func quota(_ row: PGRow, _ first: Int) throws -> SendQuota? {
        guard let perSecond = try row.decodeIfPresent(first, as: Int.self), let burst = try row.decodeIfPresent(first + 1, as: Int.self)
        else {
            return nil
        }
        return SendQuota(perSecond: perSecond, burst: burst)
    }

    /// Whose key `id` is; nil when there is none.
    public static func keyOwner(_ id: String, on db: PGConnection) throws -> KeyOwner? {
        guard
            let row = try db.query(
                """
                SELECT array_to_string(scopes, ','), product_id::text, organization_id::text, name FROM api_keys WHERE id = \(id)
                """
            ).first
        else { return nil }
        return KeyOwner(
            keyID: id, scopes: scopes(try row.decode(0)),
            tenant: try tenant(row.decodeIfPresent(1, as: UUID.self), row.decodeIfPresent(2, as: UUID.self)),
            name: try row.decodeIfPresent(3, as: String.self))
    }

    // MARK: - Onboarding

    /// A product, its key and its organisations with theirs, in one transaction with the audit rows.
    public static func createProduct(
        _ request: CreateProduct, by principal: Principal, requestID: String?,
        on db: PGConnection
    ) throws -> (product: Product, key: IssuedKey, organizations: [(Organization, IssuedKey)]) {
        try db.transaction { db in
            let principal = try acting(principal, on: db)
            let id = UUID()
            let row = try db.query(
                """
                INSERT INTO products (id, name, active) VALUES (\(id), \(request.product.name), \(request.product.active))
                RETURNING created_at::text, updated_at::text
                """)[0]
            let product = Product(
                id: id, name: request.product.name, active: request.product.active,
                createdAt: NotificationStore.rfc3339(try row.decode(0)), updatedAt: NotificationStore.rfc3339(try row.decode(1)))
            try AuditStore.append([TenantAudit(actor: principal.actor, requestID: requestID).created(.product(id))], on: db)
            let key = try issue(
                scopes: Scope.product, tenant: Tenant(productID: id), name: nil, by: principal, requestID: requestID, on: db)
            let organizations = try insertOrganizations(request.organizations, under: id, by: principal, requestID: requestID, on: db)
            return (product, key, organizations)
        }
    }

    /// Organisations under `productID`, each with its key; nil when there is no such product.
    public static func createOrganizations(
        _ specs: [TenantSpec], under productID: UUID, by principal: Principal, requestID: String?,
        on db: PGConnection
    ) throws -> [(Organization, IssuedKey)]? {
        try db.transaction { db in
            guard try !db.query("SELECT 1 FROM products WHERE id = \(productID) FOR SHARE").isEmpty else { return nil }
            let principal = try acting(principal, on: db)
            return try insertOrganizations(specs, under: productID, by: principal, requestID: requestID, on: db)
        }
    }

    private static func insertOrganizations(
        _ specs: [TenantSpec], under productID: UUID, by principal: Principal, requestID: String?,
        on db: PGConnection
    ) throws -> [(Organization, IssuedKey)] {
        try specs.map { spec in
            let id = UUID()
            let row = try db.query(
                """
                INSERT INTO organizations (id, product_id, name, active) VALUES (\(id), \(productID), \(spec.name), \(spec.active))
                RETURNING created_at::text, updated_at::text
                """)[0]
            let organization = Organization(
                id: id, productID: productID, name: spec.name, active: spec.active,
                createdAt: NotificationStore.rfc3339(try row.decode(0)), updatedAt: NotificationStore.rfc3339(try row.decode(1)))
            try AuditStore.append(
                [TenantAudit(actor: principal.actor, requestID: requestID).created(.organization(id, product: productID))], on: db)
            let tenant = Tenant(productID: productID, organizationID: id)
            return (
                organization, try issue(scopes: Scope.organization, tenant: tenant, name: nil, by: principal, requestID: requestID, on: db)
            )
        }
    }

    /// A key for one of FlowMart's own services.
    public static func createServiceKey(
        _ request: CreateServiceKey, by principal: Principal, requestID: String?,
        on db: PGConnection
    ) throws -> IssuedKey {
        try db.transaction { db in
            try issue(
                scopes: request.scopes, tenant: nil, name: request.name, by: try acting(principal, on: db), requestID: requestID, on: db)
        }
    }

    /// The caller as its key stands now, its row locked (shared) for the rest of the transaction: `Access.stillActing`
    /// refuses a key revoked or expired since it authenticated, and a revocation or rotation of it (an UPDATE of the
    /// row) waits for this transaction, so what it mints is either refused or written before the revocation's cascade
    /// looks for it, and is in its grace exactly when the key has a successor.
    private static func acting(_ principal: Principal, on db: PGConnection) throws -> Principal {
        guard let id = principal.keyID else { return principal }
        return try actingState(principal, try lockKeys([id], .share, on: db))
    }

    /// How a key row stands, read under a lock.
    private struct KeyState {
        var live: Bool
        var successor: String?
    }

    private enum LockStrength: String {
        case share = "SHARE", update = "UPDATE"
    }

    /// The rows of keys `ids`, locked in id order (so two keys acting on each other wait for one another, never deadlock).
    private static func lockKeys(_ ids: Set<String>, _ strength: LockStrength, on db: PGConnection) throws -> [String: KeyState] {
        var states: [String: KeyState] = [:]
        for row in try db.query(
            """
            SELECT id, revoked_at IS NULL AND COALESCE(expires_at > now(), true), replaced_by FROM api_keys
            WHERE id = ANY(\(PGTextArray(ids.sorted()))::text[]) ORDER BY id FOR \(unsafe: strength.rawValue)
            """)
        {
            states[try row.decode(0)] = KeyState(live: try row.decode(1), successor: try row.decodeIfPresent(2, as: String.self))
        }
        return states
    }

    /// `principal` as `states` (its key's row, locked) say it stands now.
    private static func actingState(_ principal: Principal, _ states: [String: KeyState]) throws -> Principal {
        let state = principal.keyID.flatMap { states[$0] }
        return try Access.stillActing(principal, live: state?.live ?? false, hasSuccessor: state?.successor != nil)
    }

    /// The caller and the key it rotates or revokes, both rows locked (the key's for update), the caller as it stands
    /// now and authorised again to manage the key: between authentication and this lock it may have been revoked (401)
    /// or rotated (then it may handle only itself).
    private static func lockForManaging(_ owner: KeyOwner, by principal: Principal, on db: PGConnection) throws -> (Principal, KeyState?) {
        let states = try lockKeys(Set([owner.keyID] + (principal.keyID.map { [$0] } ?? [])), .update, on: db)
        let principal = try actingState(principal, states)
        try Access.authorise(principal, toManage: owner)
        return (principal, states[owner.keyID])
    }

    /// A new key, stored as its hash with the key that issued it, with its audit row (inside the caller's transaction).
    /// `principal` is as `acting` or `lockForManaging` read it, its row locked: the new key is minted in its grace
    /// exactly when it has a successor.
    private static func issue(
        scopes: [Scope], tenant: Tenant?, name: String?, by principal: Principal, requestID: String?,
        replacing old: String? = nil, on db: PGConnection
    ) throws -> IssuedKey {
        let key = APIKey.generate()
        let inGrace = principal.hasSuccessor
        try db.execute(
            """
            INSERT INTO api_keys (id, key_hash, scopes, product_id, organization_id, name, issued_by, issued_in_grace)
            VALUES (\(key.id), \(key.hash), \(PGTextArray(scopes.map(\.rawValue)))::text[], \(tenant?.productID), \(tenant?.organizationID), \(name),
                    \(principal.keyID), \(inGrace))
            """)
        try AuditStore.append(
            [TenantAudit(actor: principal.actor, requestID: requestID).issued(key: key.id, tenant: tenant, replacing: old)],
            on: db)
        return IssuedKey(key: key, scopes: scopes)
    }

    // MARK: - Reading

    public static func product(_ id: UUID, on db: PGConnection) throws -> (product: Product, organizations: [Organization])? {
        guard
            let row = try db.query(
                """
                SELECT name, active, created_at::text, updated_at::text, quota_per_second, quota_burst FROM products WHERE id = \(id)
                """, prepared: true
            ).first
        else { return nil }
        let product = Product(
            id: id, name: try row.decode(0), active: try row.decode(1),
            createdAt: NotificationStore.rfc3339(try row.decode(2)), updatedAt: NotificationStore.rfc3339(try row.decode(3)),
            quota: try quota(row, 4))
        let organizations = try db.query(
            """
            SELECT id::text, name, active, created_at::text, updated_at::text, quota_per_second, quota_burst FROM organizations
            WHERE product_id = \(id) ORDER BY created_at, id
            """, prepared: true
        ).map { row in
            Organization(
                id: try row.decode(0), productID: id, name: try row.decode(1), active: try row.decode(2),
                createdAt: NotificationStore.rfc3339(try row.decode(3)), updatedAt: NotificationStore.rfc3339(try row.decode(4)),
                quota: try quota(row, 5))
        }
        return (product, organizations)
    }

    public static func organization(_ id: UUID, on db: PGConnection) throws -> Organization? {
        guard
            let row = try db.query(
                """
                SELECT product_id::text, name, active, created_at::text, updated_at::text, quota_per_second, quota_burst
                FROM organizations WHERE id = \(id)
                """, prepared: true
            ).first
        else { return nil }
        return Organization(
            id: id, productID: try row.decode(0), name: try row.decode(1), active: try row.decode(2),
            createdAt: NotificationStore.rfc3339(try row.decode(3)), updatedAt: NotificationStore.rfc3339(try row.decode(4)),
            quota: try quota(row, 5))
    }

    // MARK: - Changes

    /// Renames, activates or deactivates a product; deactivating also deactivates its organisations (each audited).
    /// Nil when there is no such product.
    public static func updateProduct(
        _ update: TenantUpdate, by principal: Principal, requestID: String?,
        on db: PGConnection
    ) throws -> (product: Product, organizations: [Organization])? {
        try db.transaction { db -> (product: Product, organizations: [Organization])? in
            guard
                let row = try db.query(
                    """
                    SELECT name, active FROM products WHERE id = \(update.id) FOR UPDATE
                    """
                ).first
            else { return nil }
            let audit = TenantAudit(actor: principal.actor, requestID: requestID)
            var entries = audit.update(
                update, of: .product(update.id), was: try row.decode(0, as: String.self), active: try row.decode(1, as: Bool.self))
            if update.quota != nil { try RateLimitStore.reset(TenantQuotas.key(of: update.id), on: db) }
            try db.execute(
                """
                UPDATE products SET name = COALESCE(\(update.name), name), active = COALESCE(\(update.active), active), updated_at = now(),
                    quota_per_second = CASE WHEN \(update.quota != nil)::boolean THEN \(update.quotaPerSecond)::integer ELSE quota_per_second END,
                    quota_burst = CASE WHEN \(update.quota != nil)::boolean THEN \(update.quotaBurst)::integer ELSE quota_burst END
                WHERE id = \(update.id)
                """)
            if update.active == false {
                let deactivated = try db.query(
                    """
                    UPDATE organizations SET active = false, updated_at = now() WHERE product_id = \(update.id) AND active
                    RETURNING id::text
                    """)
                entries += audit.deactivated(organizations: try deactivated.map { try $0.decode(0, as: UUID.self) }, withProduct: update.id)
            }
            try AuditStore.append(entries, on: db)
            return try product(update.id, on: db)
        }
    }

    /// Renames, activates or deactivates an organisation; nil when there is none under `productID` (nil: any).
    public static func updateOrganization(
        _ update: TenantUpdate, by principal: Principal, requestID: String?,
        on db: PGConnection
    ) throws -> Organization? {
        try db.transaction { db -> Organization? in
            guard
                let row = try db.query(
                    """
                    SELECT product_id::text, name, active FROM organizations WHERE id = \(update.id) FOR UPDATE
                    """
                ).first
            else { return nil }
            let entries = TenantAudit(actor: principal.actor, requestID: requestID).update(
                update, of: .organization(update.id, product: try row.decode(0, as: UUID.self)), was: try row.decode(1, as: String.self),
                active: try row.decode(2, as: Bool.self))
            if update.quota != nil { try RateLimitStore.reset(TenantQuotas.key(of: update.id), on: db) }
            try db.execute(
                """
                UPDATE organizations SET name = COALESCE(\(update.name), name), active = COALESCE(\(update.active), active),
                    updated_at = now(),
                    quota_per_second = CASE WHEN \(update.quota != nil)::boolean THEN \(update.quotaPerSecond)::integer ELSE quota_per_second END,
                    quota_burst = CASE WHEN \(update.quota != nil)::boolean THEN \(update.quotaBurst)::integer ELSE quota_burst END
                WHERE id = \(update.id)
                """)
            try AuditStore.append(entries, on: db)
            return try organization(update.id, on: db)
        }
    }

    /// What a rotation came to.
    public enum Rotation: Sendable {
        case rotated(key: IssuedKey, oldExpiresAt: String)
        /// The key is revoked or past its grace: a key that no longer works cannot be rotated, only replaced.
        case inactive
        /// The key has a successor already: one successor per key, so a leaked key cannot mint a line of its own.
        case alreadyRotated(successor: String)
    }

    /// A new key for `owner`; the old one works for `graceSeconds` more (or less, if it was already to expire sooner).
    public static func rotate(
        _ owner: KeyOwner, graceSeconds: Int, by principal: Principal, requestID: String?,
        on db: PGConnection
    ) throws -> Rotation {
        try db.transaction { db in
            let (principal, state) = try lockForManaging(owner, by: principal, on: db)
            guard let state, state.live else { return .inactive }
            if let successor = state.successor { return .alreadyRotated(successor: successor) }
            let key = try issue(
                scopes: owner.scopes, tenant: owner.tenant, name: owner.name, by: principal, requestID: requestID,
                replacing: owner.keyID, on: db)
            let expires = try db.query(
                """
                UPDATE api_keys SET replaced_by = \(key.key.id),
                    expires_at = LEAST(COALESCE(expires_at, 'infinity'), now() + make_interval(secs => \(graceSeconds)))
                WHERE id = \(owner.keyID) RETURNING expires_at::text
                """)[0]
            return .rotated(key: key, oldExpiresAt: NotificationStore.rfc3339(try expires.decode(0)))
        }
    }

    /// Stops `owner`'s key at once, and with it every key it minted in its grace (rotating another key, creating an
    /// organisation) and every key those minted, each with its audit row: a leaked key's mints do not outlive it. Its
    /// own successor stays (the key its owner moved to). Nil when it was revoked already (nothing changes, nothing is
    /// audited); else the ids of the keys revoked with it.
    public static func revoke(_ owner: KeyOwner, by principal: Principal, requestID: String?, on db: PGConnection) throws -> [String]? {
        try db.transaction { db -> [String]? in
            _ = try lockForManaging(owner, by: principal, on: db)
            guard try db.execute("UPDATE api_keys SET revoked_at = now() WHERE id = \(owner.keyID) AND revoked_at IS NULL") == 1 else {
                return nil
            }
            let minted = try db.query(
                """
                WITH RECURSIVE minted (id) AS (
                    SELECT id FROM api_keys WHERE issued_by = \(owner.keyID) AND issued_in_grace
                    UNION
                    SELECT k.id FROM api_keys k JOIN minted m ON k.issued_by = m.id
                )
                UPDATE api_keys k SET revoked_at = now() FROM minted m WHERE k.id = m.id AND k.revoked_at IS NULL
                RETURNING k.id, k.product_id::text, k.organization_id::text
                """)
            let also = try minted.map { row in
                (
                    id: try row.decode(0, as: String.self),
                    tenant: tenant(try row.decodeIfPresent(1, as: UUID.self), try row.decodeIfPresent(2, as: UUID.self))
                )
            }
            try AuditStore.append(
                TenantAudit(actor: principal.actor, requestID: requestID).revoked(key: owner.keyID, tenant: owner.tenant, minted: also),
                on: db)
            return also.map(\.id).sorted()
        }
    }

    // MARK: - Decoding

    private static func scopes(_ list: String) -> [Scope] {
        list.split(separator: ",").compactMap { Scope(rawValue: String($0)) }
    }

    private static func tenant(_ product: UUID?, _ organization: UUID?) -> Tenant? {
        product.map { Tenant(productID: $0, organizationID: organization) }
    }
}
