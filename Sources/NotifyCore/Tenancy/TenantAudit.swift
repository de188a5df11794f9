import Foundation

/// Which audit rows a change to the tenants writes, decided from what the change read under its locks: what an
/// update changed (the diff of the row as it stood against the update), what a revocation took with it. `TenantStore`
/// writes the rows in the change's transaction; nothing is audited that did not change.
public struct TenantAudit: Sendable {
    /// Who acts (`Principal.actor`), and for which request.
    public let actor: String
    public let requestID: String?

    public init(actor: String, requestID: String?) {
        self.actor = actor
        self.requestID = requestID
    }

    /// A product, or an organisation under its product: what a row is about.
    public enum Subject: Sendable, Equatable {
        case product(UUID)
        case organization(UUID, product: UUID)

        var kind: String {
            switch self {
            case .product: "product"
            case .organization: "organization"
            }
        }

        var tenant: Tenant {
            switch self {
            case .product(let id): Tenant(productID: id)
            case .organization(let id, let product): Tenant(productID: product, organizationID: id)
            }
        }

        var entity: String {
            switch self {
            case .product(let id): AuditEntry.product(id)
            case .organization(let id, _): AuditEntry.organization(id)
            }
        }
    }

    private func entry(_ tenant: Tenant?, _ entity: String, _ action: String, detail: String? = nil) -> AuditEntry {
        AuditEntry(actor: actor, tenant: tenant, entity: entity, action: action, requestID: requestID, detail: detail)
    }

    private func entry(_ subject: Subject, _ action: String, detail: String? = nil) -> AuditEntry {
        entry(subject.tenant, subject.entity, "\(subject.kind).\(action)", detail: detail)
    }

    /// A product or an organisation created.
    public func created(_ subject: Subject) -> AuditEntry { entry(subject, "created") }

    /// `update` of a product or an organisation that stood as `name` and `active` (read under its lock): renamed or
    /// (de)activated only when that changes it; a quota change always (it starts the schedule afresh), with the new
    /// quota or `the deployment's default`.
    public func update(_ update: TenantUpdate, of subject: Subject, was name: String, active: Bool) -> [AuditEntry] {
        var entries: [AuditEntry] = []
        if let new = update.name, new != name { entries.append(entry(subject, "renamed")) }
        if let new = update.active, new != active { entries.append(entry(subject, new ? "activated" : "deactivated")) }
        if let change = update.quota {
            let detail =
                switch change {
                case .set(let quota): "\(quota.perSecond)/s, burst \(quota.burst)"
                case .useDefault: "the deployment's default"
                }
            entries.append(entry(subject, "quota-changed", detail: detail))
        }
        return entries
    }

    /// The organisations deactivated with their product `productID`.
    public func deactivated(organizations: [UUID], withProduct productID: UUID) -> [AuditEntry] {
        organizations.map { entry(.organization($0, product: productID), "deactivated", detail: "its product was deactivated") }
    }

    /// Key `id` issued for `tenant` (nil: FlowMart's), or minted by rotating key `replacing`.
    public func issued(key id: String, tenant: Tenant?, replacing old: String? = nil) -> AuditEntry {
        entry(tenant, AuditEntry.key(id), old == nil ? "key.issued" : "key.rotated", detail: old.map { "replaces key \($0)" })
    }

    /// Key `id` of `tenant` revoked, and with it `minted` (each with its tenant): the keys it minted in its grace, by
    /// it or by a key it minted.
    public func revoked(key id: String, tenant: Tenant?, minted: [(id: String, tenant: Tenant?)]) -> [AuditEntry] {
        [entry(tenant, AuditEntry.key(id), "key.revoked")]
            + minted.map {
                entry(
                    $0.tenant, AuditEntry.key($0.id), "key.revoked",
                    detail: "with key \(id): minted in its grace, by it or by a key it minted")
            }
    }
}
