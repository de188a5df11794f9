import Foundation

/// `CreateProduct {product: {name, active?}, organizations?: [{name, active?}]}` (admin): a product with its key, and
/// each organisation with its own, in one transaction. The reply is the only place the keys are ever shown.
public struct CreateProduct: RPCRequest, Equatable {
    public static let command = RPCCommand.createProduct
    public static let maxOrganizations = 100
    public var product: TenantSpec
    public var organizations: [TenantSpec]

    public init(product: TenantSpec, organizations: [TenantSpec] = []) {
        self.product = product
        self.organizations = organizations
    }

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
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
public struct CreateOrganizations: RPCRequest, Equatable {
    public static let command = RPCCommand.createOrganizations
    public var productID: UUID?
    public var organizations: [TenantSpec]

    public init(productID: UUID?, organizations: [TenantSpec]) {
        self.productID = productID
        self.organizations = organizations
    }

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do throws(Rejection) {
            productID = try fields.optionalUUID("productId")
            guard let organizations = try fields.optionalObjects("organizations", maxCount: CreateProduct.maxOrganizations),
                !organizations.isEmpty
            else { throw Rejection(.schema, "field 'organizations' must list 1 to \(CreateProduct.maxOrganizations) organizations") }
            self.organizations = try organizations.map { (fields) throws(Rejection) in try TenantSpec(fields) }
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue {
        .object((productID.map { [("productId", JSONValue.string($0.uuidString.lowercased()))] } ?? [])
            + [("organizations", .array(organizations.map(\.body)))])
    }
}

/// `GetProduct {productId?}`: the product with its organisations, without keys; a product's key may leave the id out.
public struct GetProduct: RPCRequest, Equatable {
    public static let command = RPCCommand.getProduct
    public var productID: UUID?

    public init(productID: UUID?) { self.productID = productID }

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do { productID = try fields.optionalUUID("productId") } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object(productID.map { [("productId", .string($0.uuidString.lowercased()))] } ?? []) }
}

/// `GetOrganization {organizationId?}`: one organisation, without keys; an organisation's key may leave the id out.
public struct GetOrganization: RPCRequest, Equatable {
    public static let command = RPCCommand.getOrganization
    public var organizationID: UUID?

    public init(organizationID: UUID?) { self.organizationID = organizationID }

    public init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do { organizationID = try fields.optionalUUID("organizationId") } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object(organizationID.map { [("organizationId", .string($0.uuidString.lowercased()))] } ?? []) }
}

/// `UpdateProduct` and `UpdateOrganization {id, name?, active?}`: a rename, an activation or a deactivation (at least
/// one of them). Deactivating a product deactivates its organisations; (re)activating one is the admin's.
public struct TenantUpdate: Sendable, Equatable {
    public var id: UUID
    public var name: String?
    public var active: Bool?

    public init(id: UUID, name: String? = nil, active: Bool? = nil) {
        self.id = id
        self.name = name
        self.active = active
    }

    init(body: [UInt8]) throws(RPCFailure) {
        let fields = try RequestBody.fields(body)
        do throws(Rejection) {
            id = try fields.uuid("id")
            name = try fields.optionalName("name")
            active = fields.has("active") ? try fields.bool("active") : nil
            guard name != nil || active != nil else { throw Rejection(.schema, "give field 'name' or 'active' (or both)") }
        } catch { throw error.asBadRequest }
    }

    var body: JSONValue {
        .object([("id", .string(id.uuidString.lowercased()))] + (name.map { [("name", JSONValue.string($0))] } ?? [])
            + (active.map { [("active", JSONValue.bool($0))] } ?? []))
    }
}

public struct UpdateProduct: RPCRequest, Equatable {
    public static let command = RPCCommand.updateProduct
    public var update: TenantUpdate

    public init(_ update: TenantUpdate) { self.update = update }
    public init(body: [UInt8]) throws(RPCFailure) { update = try TenantUpdate(body: body) }
    public var body: JSONValue { update.body }
}

public struct UpdateOrganization: RPCRequest, Equatable {
    public static let command = RPCCommand.updateOrganization
    public var update: TenantUpdate

    public init(_ update: TenantUpdate) { self.update = update }
    public init(body: [UInt8]) throws(RPCFailure) { update = try TenantUpdate(body: body) }
    public var body: JSONValue { update.body }
}
