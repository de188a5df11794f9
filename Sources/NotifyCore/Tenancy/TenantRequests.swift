import Foundation

/// `CreateProduct {product: {name, active?}, organizations?: [{name, active?}]}` (admin): a product with its key, and
/// each organisation with its own, in one transaction. The reply is the only place the keys are ever shown.
public struct CreateProduct: CommandRequest, Equatable {
    public static let command = Command.createProduct
    public static let maxOrganizations = 100
    public var product: TenantSpec
    public var organizations: [TenantSpec]

    public init(product: TenantSpec, organizations: [TenantSpec] = []) {
        self.product = product
        self.organizations = organizations
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            product = try TenantSpec(try fields.object("product"))
            organizations = try (fields.optionalObjects("organizations", maxCount: Self.maxOrganizations) ?? [])
                .map { (fields) throws(Rejection) in try TenantSpec(fields) }
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue {
        .object([("product", product.body), ("organizations", .array(organizations.map(\.body)))])
    }
}

/// `CreateOrganizations {productId?, organizations: [{name, active?}]}`: organisations under a product, each with its
/// key. A product's key names its own product (or leaves `productId` out); the admin names any.
public struct CreateOrganizations: CommandRequest, Equatable {
    public static let command = Command.createOrganizations
    public var productID: UUID?
    public var organizations: [TenantSpec]

    public init(productID: UUID?, organizations: [TenantSpec]) {
        self.productID = productID
        self.organizations = organizations
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            productID = try fields.optionalUUID("productId")
            guard let organizations = try fields.optionalObjects("organizations", maxCount: CreateProduct.maxOrganizations),
                !organizations.isEmpty
            else { throw Rejection(.schema, "field 'organizations' must list 1 to \(CreateProduct.maxOrganizations) organizations") }
            self.organizations = try organizations.map { (fields) throws(Rejection) in try TenantSpec(fields) }
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue {
        .object(
            (productID.map { [("productId", JSONValue.string($0.uuidString.lowercased()))] } ?? [])
                + [("organizations", .array(organizations.map(\.body)))])
    }
}

/// `GetProduct {productId?}`: the product with its organisations, without keys; a product's key may leave the id out.
public struct GetProduct: CommandRequest, Equatable {
    public static let command = Command.getProduct
    public var productID: UUID?

    public init(productID: UUID?) { self.productID = productID }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do { productID = try fields.optionalUUID("productId") } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object(productID.map { [("productId", .string($0.uuidString.lowercased()))] } ?? []) }
}

/// `GetOrganization {organizationId?}`: one organisation, without keys; an organisation's key may leave the id out.
public struct GetOrganization: CommandRequest, Equatable {
    public static let command = Command.getOrganization
    public var organizationID: UUID?

    public init(organizationID: UUID?) { self.organizationID = organizationID }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do { organizationID = try fields.optionalUUID("organizationId") } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object(organizationID.map { [("organizationId", .string($0.uuidString.lowercased()))] } ?? []) }
}

/// `UpdateProduct` and `UpdateOrganization {id, name?, active?, quota?}`: a rename, an activation or a deactivation, a
/// send quota of its own (at least one of them). Deactivating a product deactivates its organisations; (re)activating
/// one, and quotas, are the admin's.
public struct TenantUpdate: Sendable, Equatable {
    public var id: UUID
    public var name: String?
    public var active: Bool?
    /// `quota: {perSecond, burst?}` sets the tenant's own send quota, `quota: null` returns it to the deployment's.
    public var quota: QuotaChange?

    public init(id: UUID, name: String? = nil, active: Bool? = nil, quota: QuotaChange? = nil) {
        self.id = id
        self.name = name
        self.active = active
        self.quota = quota
    }

    init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            id = try fields.uuid("id")
            name = try fields.optionalName("name")
            active = fields.has("active") ? try fields.bool("active") : nil
            if fields.isNull("quota") {
                quota = .useDefault
            } else {
                quota = try fields.optionalObject("quota").map { (fields) throws(Rejection) in .set(try SendQuota(fields)) }
            }
            guard name != nil || active != nil || quota != nil else { throw Rejection(.schema, "give field 'name', 'active' or 'quota'") }
        } catch { throw error.asBadRequest }
    }

    var body: JSONValue {
        var members: [(String, JSONValue)] = [("id", .string(id.uuidString.lowercased()))]
        if let name { members.append(("name", .string(name))) }
        if let active { members.append(("active", .bool(active))) }
        switch quota {
        case .set(let quota)?: members.append(("quota", quota.body))
        case .useDefault?: members.append(("quota", .null))
        case nil: break
        }
        return .object(members)
    }
}

public struct UpdateProduct: CommandRequest, Equatable {
    public static let command = Command.updateProduct
    public var update: TenantUpdate

    public init(_ update: TenantUpdate) { self.update = update }
    public init(_ input: CommandInput) throws(CommandFailure) { update = try TenantUpdate(input) }
    public var body: JSONValue { update.body }
}

public struct UpdateOrganization: CommandRequest, Equatable {
    public static let command = Command.updateOrganization
    public var update: TenantUpdate

    public init(_ update: TenantUpdate) { self.update = update }
    public init(_ input: CommandInput) throws(CommandFailure) { update = try TenantUpdate(input) }
    public var body: JSONValue { update.body }
}
