import Foundation

/// A client of the send API (the seed's "product"): it owns its keys, its organisations and its messages.
public struct Product: Sendable, Equatable {
    public var id: UUID
    public var name: String
    public var active: Bool
    public var createdAt: String
    public var updatedAt: String
    /// Its own send quota (for it and its organisations together); nil: the deployment's.
    public var quota: SendQuota?

    public init(id: UUID, name: String, active: Bool, createdAt: String, updatedAt: String, quota: SendQuota? = nil) {
        self.id = id
        self.name = name
        self.active = active
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.quota = quota
    }

    /// The reply shape, without keys; `organizations` when asked for. `quota` is null for the deployment's.
    public func body(organizations: [Organization]? = nil, apiKey: IssuedKey? = nil) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("id", .string(id.uuidString.lowercased())), ("name", .string(name)), ("active", .bool(active)),
            ("createdAt", .string(createdAt)), ("updatedAt", .string(updatedAt)), ("quota", quota?.body ?? .null),
        ]
        if let apiKey { members += apiKey.members }
        if let organizations { members.append(("organizations", .array(organizations.map { $0.body() }))) }
        return .object(members)
    }
}

/// A B2B customer of a product, with keys of its own that see only its own messages.
public struct Organization: Sendable, Equatable {
    public var id: UUID
    public var productID: UUID
    public var name: String
    public var active: Bool
    public var createdAt: String
    public var updatedAt: String
    /// Its own send quota; nil: the deployment's. Its sends also count against its product's.
    public var quota: SendQuota?

    public init(id: UUID, productID: UUID, name: String, active: Bool, createdAt: String, updatedAt: String, quota: SendQuota? = nil) {
        self.id = id
        self.productID = productID
        self.name = name
        self.active = active
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.quota = quota
    }

    public func body(apiKey: IssuedKey? = nil) -> JSONValue {
        .object(
            [
                ("id", .string(id.uuidString.lowercased())), ("productId", .string(productID.uuidString.lowercased())),
                ("name", .string(name)), ("active", .bool(active)), ("createdAt", .string(createdAt)), ("updatedAt", .string(updatedAt)),
                ("quota", quota?.body ?? .null),
            ] + (apiKey?.members ?? []))
    }
}

/// A key just issued: the only time its text leaves the service.
public struct IssuedKey: Sendable, Equatable {
    public var key: APIKey
    public var scopes: [Scope]

    public init(key: APIKey, scopes: [Scope]) {
        self.key = key
        self.scopes = scopes
    }

    var members: [(String, JSONValue)] {
        [("apiKey", .string(key.text)), ("keyId", .string(key.id)), ("scopes", .array(scopes.map { .string($0.rawValue) }))]
    }
}

/// What a new product or organisation is given: `{name, active?}` (active by default).
public struct TenantSpec: Sendable, Equatable {
    public static let maxNameLength = 200
    public var name: String
    public var active: Bool

    public init(name: String, active: Bool = true) {
        self.name = name
        self.active = active
    }

    init(_ fields: JSONFields) throws(Rejection) {
        name = try fields.name("name")
        active = fields.has("active") ? try fields.bool("active") : true
    }

    var body: JSONValue { .object([("name", .string(name)), ("active", .bool(active))]) }
}

extension JSONFields {
    /// A display name: 1 to 200 characters, not only blanks, no control characters.
    func name(_ key: String) throws(Rejection) -> String {
        guard let name = try optionalName(key) else { throw Rejection(.schema, "missing required field '\(path)\(key)'") }
        return name
    }

    func optionalName(_ key: String) throws(Rejection) -> String? {
        guard let text = try optionalString(key, maxLength: TenantSpec.maxNameLength) else { return nil }
        guard !text.trimmingCharacters(in: .whitespaces).isEmpty,
            !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw Rejection(
                .schema, "field '\(path)\(key)' must be 1 to \(TenantSpec.maxNameLength) characters, not blank, without control characters")
        }
        return text
    }

    /// A UUID, when present.
    func optionalUUID(_ key: String) throws(Rejection) -> UUID? {
        guard let text = try optionalString(key, maxLength: 64) else { return nil }
        guard let id = UUID(uuidString: text) else { throw Rejection(.schema, "field '\(path)\(key)' must be a UUID") }
        return id
    }

    func uuid(_ key: String) throws(Rejection) -> UUID {
        guard let id = try optionalUUID(key) else { throw Rejection(.schema, "missing required field '\(path)\(key)'") }
        return id
    }

    /// A key id (the public part of an API key), when present.
    func optionalKeyID(_ key: String) throws(Rejection) -> String? {
        guard let text = try optionalString(key, maxLength: APIKey.idLength) else { return nil }
        guard text.utf8.count == APIKey.idLength, text.utf8.allSatisfy(Base32.isDigit) else {
            throw Rejection(.schema, "field '\(path)\(key)' must be a key id of \(APIKey.idLength) characters")
        }
        return text
    }
}
