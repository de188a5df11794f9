import Foundation
import NotifyCore
import NotifyStore
import Postgres

/// Onboarding, keys and the audit trail. What another tenant owns is answered 404, as if it did not exist: a key
/// learns nothing about other tenants, not even that an id is taken.
extension CommandHandlers {
    /// A product with its key and organisations (admin).
    static func createProduct(_ request: CreateProduct, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        let created = try TenantStore.createProduct(request, by: call.principal, requestID: call.requestID, on: db)
        return Answer(
            body: .object([
                ("product", created.product.body(apiKey: created.key)),
                ("organizations", .array(created.organizations.map { $0.0.body(apiKey: $0.1) })),
            ]), status: 201)
    }

    /// Organisations under the caller's product (or, for the admin, the one named).
    static func createOrganizations(_ request: CreateOrganizations, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        let productID = try productID(request.productID, call)
        guard call.principal.reaches(product: productID),
            let created = try TenantStore.createOrganizations(
                request.organizations, under: productID, by: call.principal, requestID: call.requestID, on: db)
        else { throw CommandFailure.notFound("no product with this productId") }
        return Answer(body: .object([("organizations", .array(created.map { $0.0.body(apiKey: $0.1) }))]), status: 201)
    }

    /// A product with its organisations, without keys.
    static func product(_ request: GetProduct, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        let id = try productID(request.productID, call)
        guard call.principal.reaches(product: id), let found = try TenantStore.product(id, on: db) else {
            throw CommandFailure.notFound("no product with this productId")
        }
        return Answer(body: found.product.body(organizations: found.organizations))
    }

    /// One organisation, without keys.
    static func organization(_ request: GetOrganization, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        guard let id = request.organizationID ?? call.principal.tenant?.organizationID else {
            throw CommandFailure.badRequest("missing required field 'organizationId'")
        }
        guard let found = try TenantStore.organization(id, on: db), call.principal.reaches(product: found.productID, organization: id)
        else {
            throw CommandFailure.notFound("no organization with this organizationId")
        }
        return Answer(body: found.body())
    }

    /// A rename by the product's key, or an activation, a deactivation or a quota of its own by the admin.
    static func updateProduct(_ request: UpdateProduct, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        let update = request.update
        guard call.principal.reaches(product: update.id) else { throw CommandFailure.notFound("no product with this id") }
        if update.active != nil, !call.principal.isAdmin {
            throw CommandFailure.forbidden("only the admin activates or deactivates a product")
        }
        if update.quota != nil, !call.principal.isAdmin { throw CommandFailure.forbidden("only the admin sets a product's quota") }
        guard let updated = try TenantStore.updateProduct(update, by: call.principal, requestID: call.requestID, on: db) else {
            throw CommandFailure.notFound("no product with this id")
        }
        return Answer(body: updated.product.body(organizations: updated.organizations))
    }

    /// A rename, activation or deactivation of one of the caller's product's organisations, or its quota (by the admin
    /// or its product, whose own quota still caps them all; never by the organisation itself).
    static func updateOrganization(_ request: UpdateOrganization, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        let update = request.update
        if update.quota != nil, call.principal.tenant?.organizationID != nil {
            throw CommandFailure.forbidden("an organization's quota is set by its product or the admin")
        }
        guard let found = try TenantStore.organization(update.id, on: db), call.principal.reaches(product: found.productID),
            let updated = try TenantStore.updateOrganization(update, by: call.principal, requestID: call.requestID, on: db)
        else { throw CommandFailure.notFound("no organization with this id") }
        return Answer(body: updated.body())
    }

    /// A successor for a key; the old one works through the grace period. One successor per key: 409 for a key that
    /// has one, naming it.
    static func rotate(_ request: RotateAPIKey, _ call: CommandCall, graceSeconds: Int, on db: PGConnection) throws -> Answer {
        let owner = try keyOwner(request.keyID, call, on: db)
        switch try TenantStore.rotate(owner, graceSeconds: graceSeconds, by: call.principal, requestID: call.requestID, on: db) {
        case .inactive:
            throw CommandFailure(status: 409, code: "key-not-active", message: "the key is revoked or past its grace period")
        case .alreadyRotated(let successor):
            throw CommandFailure(
                status: 409, code: "key-already-rotated",
                message: """
                    key \(owner.keyID) has a successor already, key \(successor) (one per key): rotate that one; if you did not rotate \
                    \(owner.keyID), revoke both
                    """)
        case .rotated(let key, let oldExpiresAt):
            return Answer(
                body: .object([
                    ("keyId", .string(key.key.id)), ("apiKey", .string(key.key.text)),
                    ("scopes", .array(key.scopes.map { .string($0.rawValue) })),
                    ("replacesKeyId", .string(owner.keyID)), ("expiresOldAt", .string(oldExpiresAt)),
                ]), status: 201)
        }
    }

    /// Stops a key at once, idempotently, with the keys it minted in its grace (`alsoRevoked`).
    static func revoke(_ request: RevokeAPIKey, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        let owner = try keyOwner(request.keyID, call, on: db)
        let also = try TenantStore.revoke(owner, by: call.principal, requestID: call.requestID, on: db)
        return Answer(
            body: .object([
                ("keyId", .string(owner.keyID)), ("revoked", .bool(true)), ("alreadyRevoked", .bool(also == nil)),
                ("alsoRevoked", .array((also ?? []).map(JSONValue.string))),
            ]))
    }

    /// A key for one of FlowMart's own services (admin).
    static func createServiceKey(_ request: CreateServiceKey, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        let issued = try TenantStore.createServiceKey(request, by: call.principal, requestID: call.requestID, on: db)
        return Answer(
            body: .object([
                ("keyId", .string(issued.key.id)), ("apiKey", .string(issued.key.text)), ("name", .string(request.name)),
                ("scopes", .array(issued.scopes.map { .string($0.rawValue) })),
            ]), status: 201)
    }

    /// The audit trail: a product's own rows for its key, anyone's (or one tenant's) for the admin.
    static func auditEvents(_ query: ListAuditEvents, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        let tenant = call.principal.isAdmin ? query.tenant : call.principal.tenant?.productID
        guard call.principal.isAdmin || tenant != nil else {
            throw CommandFailure.forbidden("only a product's key or the admin reads the audit trail")
        }
        return Answer(body: query.reply(try AuditStore.list(query, tenant: tenant, on: db)))
    }

    // MARK: - Helpers

    /// The product a request names, else the caller's own.
    private static func productID(_ named: UUID?, _ call: CommandCall) throws(CommandFailure) -> UUID {
        guard let id = named ?? call.principal.tenant?.productID else { throw .badRequest("missing required field 'productId'") }
        return id
    }

    /// The key a request names (else the caller's own), if the caller may manage it (the store decides again with the
    /// caller's row locked).
    private static func keyOwner(_ named: String?, _ call: CommandCall, on db: PGConnection) throws -> KeyOwner {
        guard let id = named ?? call.principal.keyID else { throw CommandFailure.badRequest("missing required field 'keyId'") }
        guard let owner = try TenantStore.keyOwner(id, on: db) else { throw CommandFailure.notFound("no key with this keyId") }
        try Access.authorise(call.principal, toManage: owner)
        return owner
    }
}
