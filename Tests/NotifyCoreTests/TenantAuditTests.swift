import Foundation
import NotifyCore
import Testing

/// Which audit rows a tenant change writes, without a database: only what changed, with its tenant and entity.
@Suite("Tenant audit: the rows a change writes are what it changed (no I/O)")
struct TenantAuditTests {
    static let product = UUID(uuidString: "11111111-1111-4111-8111-111111111111")!
    static let organization = UUID(uuidString: "22222222-2222-4222-8222-222222222222")!
    static let audit = TenantAudit(actor: "key:admin", requestID: "r-1")

    @Test("an update writes a row per change: renamed only under a new name, (de)activated only when that flips, a quota change always")
    func update() {
        let unchanged = TenantUpdate(id: Self.product, name: "Shop", active: true)
        #expect(
            Self.audit.update(unchanged, of: .product(Self.product), was: "Shop", active: true).isEmpty, "nothing changed, nothing audited")
        let everything = TenantUpdate(id: Self.product, name: "Shop 2", active: false, quota: .set(SendQuota(perSecond: 5, burst: 10)))
        let entries = Self.audit.update(everything, of: .product(Self.product), was: "Shop", active: true)
        #expect(entries.map(\.action) == ["product.renamed", "product.deactivated", "product.quota-changed"])
        #expect(entries.allSatisfy { $0.entity == AuditEntry.product(Self.product) && $0.tenant == Tenant(productID: Self.product) })
        #expect(entries.allSatisfy { $0.actor == "key:admin" && $0.requestID == "r-1" && $0.outcome == "ok" })
        #expect(entries[2].detail == "5/s, burst 10")
        let sameQuota = Self.audit.update(
            TenantUpdate(id: Self.product, quota: .useDefault), of: .product(Self.product), was: "Shop", active: true)
        #expect(
            sameQuota.map(\.detail) == ["the deployment's default"],
            "a quota set is audited even when it was the same: its schedule restarts")
    }

    @Test("an organisation's rows name it and its product; one deactivated with its product says so")
    func organization() {
        let subject = TenantAudit.Subject.organization(Self.organization, product: Self.product)
        let entries = Self.audit.update(TenantUpdate(id: Self.organization, active: true), of: subject, was: "Branch", active: false)
        #expect(entries.map(\.action) == ["organization.activated"])
        #expect(entries[0].entity == AuditEntry.organization(Self.organization))
        #expect(entries[0].tenant == Tenant(productID: Self.product, organizationID: Self.organization))
        let cascade = Self.audit.deactivated(organizations: [Self.organization], withProduct: Self.product)
        #expect(cascade.map(\.action) == ["organization.deactivated"] && cascade[0].detail == "its product was deactivated")
        #expect(cascade[0].tenant == entries[0].tenant)
        #expect(
            Self.audit.created(subject).action == "organization.created"
                && Self.audit.created(.product(Self.product)).action == "product.created")
    }

    @Test("keys: issued or rotated (naming the key it replaces); a revocation writes a row for the key and each key minted in its grace")
    func keys() {
        let tenant = Tenant(productID: Self.product)
        #expect(Self.audit.issued(key: "k-2", tenant: tenant).action == "key.issued")
        let rotated = Self.audit.issued(key: "k-2", tenant: tenant, replacing: "k-1")
        #expect(rotated.action == "key.rotated" && rotated.detail == "replaces key k-1" && rotated.entity == "key:k-2")
        let revoked = Self.audit.revoked(
            key: "k-1", tenant: tenant, minted: [("k-3", Tenant(productID: Self.product, organizationID: Self.organization)), ("k-4", nil)])
        #expect(revoked.map(\.entity) == ["key:k-1", "key:k-3", "key:k-4"])
        #expect(revoked.allSatisfy { $0.action == "key.revoked" })
        #expect(revoked[0].detail == nil && revoked[1].detail == "with key k-1: minted in its grace, by it or by a key it minted")
        #expect(revoked[2].tenant == nil && revoked[1].tenant?.organizationID == Self.organization)
    }
}
