import Foundation

/// A tenant's own send quota (`UpdateProduct` / `UpdateOrganization {quota: {perSecond, burst?}}`, admin only), in
/// place of the deployment's `send.quotaPerSecond` and `send.quotaBurst`. A product's quota covers what the product
/// and all its organisations send together; an organisation's, what it sends; a send by an organisation's key must
/// fit both.
public struct SendQuota: Sendable, Equatable {
    public static let perSecondRange = 1...1_000_000
    /// A full `SendBatch` must fit at once, or it could never be sent.
    public static let burstRange = SendBatch.maxRecipients...10_000_000

    public var perSecond: Int
    public var burst: Int

    public init(perSecond: Int, burst: Int) {
        self.perSecond = perSecond
        self.burst = burst
    }

    public var limit: RateLimit { RateLimit(perSecond: Double(perSecond), burst: burst) }

    /// `{perSecond, burst?}`: `burst` defaults to four seconds' worth, and at least a full batch.
    init(_ fields: JSONFields) throws(Rejection) {
        perSecond = try fields.integer("perSecond", default: 0, in: Self.perSecondRange)
        guard fields.has("perSecond") else { throw Rejection(.schema, "missing required field '\(fields.path)perSecond'") }
        burst = try fields.integer(
            "burst", default: Swift.max(Self.burstRange.lowerBound, 4 * perSecond),
            in: Self.burstRange)
    }

    public var body: JSONValue { .object([("perSecond", .int(perSecond)), ("burst", .int(burst))]) }
}

/// What an update does to a tenant's quota: set its own, or go back to the deployment's.
public enum QuotaChange: Sendable, Equatable {
    case set(SendQuota)
    case useDefault
}

/// The quotas a send by a tenant's key must fit, as the key's owner has them set: its product's and, for an
/// organisation's key, the organisation's (nil: the deployment's).
public struct TenantQuotas: Sendable, Equatable {
    public var product: SendQuota?
    public var organization: SendQuota?

    public init(product: SendQuota? = nil, organization: SendQuota? = nil) {
        self.product = product
        self.organization = organization
    }

    /// The shared schedules a send by `tenant` takes slots of, each with its limit (`fallback` where no quota of its
    /// own is set; none where neither is): the organisation's first, then the product's, which its organisations
    /// share.
    public func schedules(of tenant: Tenant, fallback: RateLimit?) -> [(key: String, limit: RateLimit)] {
        var schedules: [(key: String, limit: RateLimit)] = []
        if let organization = tenant.organizationID, let limit = self.organization?.limit ?? fallback {
            schedules.append((Self.key(of: organization), limit))
        }
        if let limit = product?.limit ?? fallback { schedules.append((Self.key(of: tenant.productID), limit)) }
        return schedules
    }

    /// The shared schedule (`rate_limits`) of a product's or an organisation's quota.
    public static func key(of tenant: UUID) -> String { "quota:\(tenant.uuidString.lowercased())" }
}

extension TenantUpdate {
    /// The quota columns as this update leaves them (both nil: the deployment's), when it changes the quota.
    public var quotaPerSecond: String? { if case .set(let quota)? = quota { String(quota.perSecond) } else { nil } }
    public var quotaBurst: String? { if case .set(let quota)? = quota { String(quota.burst) } else { nil } }
}
