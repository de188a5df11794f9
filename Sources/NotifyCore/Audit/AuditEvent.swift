import Foundation

/// One row of the audit trail: who did what to which entity, with what outcome. Written in the transaction of what
/// it records; refusals, which change nothing, are counted and written a window at a time (`RefusalTally`). Never a
/// secret or a message body.
public struct AuditEntry: Sendable, Equatable {
    public var actor: String
    public var tenant: Tenant?
    /// `<kind>:<id>`, e.g. `product:…`, `organization:…`, `key:…`, `request:…`.
    public var entity: String
    /// What happened, e.g. `product.created`, `key.rotated`, `send.accepted`.
    public var action: String
    /// `ok`, or `refused:<code>` with `detail` saying why.
    public var outcome: String
    public var requestID: String?
    /// A short sentence (a refusal's reason); never a payload.
    public var detail: String?
    /// How many times it happened: more than one for refusals counted together (`RefusalTally`), which keep the first
    /// one's time, reason and request id.
    public var count = 1
    /// When it happened; nil: when it is written (the database's clock).
    public var at: Date?
    /// The address an anonymous caller came from (the HTTP peer's); nil for an authenticated one and over the broker.
    public var clientAddress: String?

    public init(
        actor: String, tenant: Tenant?, entity: String, action: String, outcome: String = "ok",
        requestID: String? = nil, detail: String? = nil
    ) {
        self.actor = actor
        self.tenant = tenant
        self.entity = entity
        self.action = action
        self.outcome = outcome
        self.requestID = requestID
        self.detail = detail
    }

    /// The entry for a command refused with `failure`: named by its caller once authenticated, else `anonymous`
    /// with the address it came from (when the transport has one).
    public static func refused(
        _ command: Command, by principal: Principal?, clientAddress: String? = nil, failure: CommandFailure,
        requestID: String?
    ) -> AuditEntry {
        var entry = AuditEntry(
            actor: principal?.actor ?? "anonymous", tenant: principal?.tenant, entity: "command:\(command.rawValue)",
            action: command.rawValue, outcome: "refused:\(failure.status)", requestID: requestID, detail: failure.message)
        if principal == nil { entry.clientAddress = clientAddress }
        return entry
    }

    public static func product(_ id: UUID) -> String { "product:\(id.uuidString.lowercased())" }
    public static func organization(_ id: UUID) -> String { "organization:\(id.uuidString.lowercased())" }
    public static func key(_ id: String) -> String { "key:\(id)" }
}

/// A stored audit row, as `ListAuditEvents` answers it.
public struct AuditEvent: Sendable, Equatable {
    public var id: Int64
    public var at: String
    public var entry: AuditEntry

    public init(id: Int64, at: String, entry: AuditEntry) {
        self.id = id
        self.at = at
        self.entry = entry
    }

    public var body: JSONValue {
        var members: [(String, JSONValue)] = [
            ("at", .string(at)), ("actor", .string(entry.actor)),
            ("tenant", entry.tenant.map { .string($0.productID.uuidString.lowercased()) } ?? .null),
        ]
        if let organization = entry.tenant?.organizationID {
            members.append(("organizationId", .string(organization.uuidString.lowercased())))
        }
        members += [("entity", .string(entry.entity)), ("action", .string(entry.action)), ("outcome", .string(entry.outcome))]
        if let requestID = entry.requestID { members.append(("requestId", .string(requestID))) }
        if let detail = entry.detail { members.append(("detail", .string(detail))) }
        members.append(("count", .int(entry.count)))
        if let address = entry.clientAddress { members.append(("clientAddress", .string(address))) }
        return .object(members)
    }
}

/// `ListAuditEvents {entity?, actor?, tenant?, from?, to?, limit?, cursor?}`: the trail newest first. A product's key
/// (scope `manage`) sees its own product's rows only; the admin any, or one tenant's with `tenant`.
public struct ListAuditEvents: CommandRequest, Equatable {
    public static let command = Command.listAuditEvents
    public var entity: String?
    public var actor: String?
    public var tenant: UUID?
    public var from: Date?
    public var to: Date?
    public var limit: Int
    /// The id below which the page starts (the previous reply's `nextCursor`).
    public var cursor: Int64?

    public init(
        entity: String? = nil, actor: String? = nil, tenant: UUID? = nil, from: Date? = nil, to: Date? = nil,
        limit: Int = 20, cursor: Int64? = nil
    ) {
        self.entity = entity
        self.actor = actor
        self.tenant = tenant
        self.from = from
        self.to = to
        self.limit = limit
        self.cursor = cursor
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            entity = try fields.optionalString("entity", maxLength: 200)
            actor = try fields.optionalString("actor", maxLength: 200)
            tenant = try fields.optionalUUID("tenant")
            from = fields.has("from") ? try fields.timestamp("from") : nil
            to = fields.has("to") ? try fields.timestamp("to") : nil
            limit = try fields.integer("limit", default: 20, in: 1...100)
            if let text = try fields.optionalString("cursor", maxLength: 20) {
                guard let cursor = Int64(text), cursor > 0 else {
                    throw Rejection(.schema, "field 'cursor' is not a cursor this service gave")
                }
                self.cursor = cursor
            } else {
                cursor = nil
            }
        } catch { throw error.asBadRequest }
    }

    public var body: JSONValue {
        var members: [(String, JSONValue)] = [("limit", .int(limit))]
        if let entity { members.append(("entity", .string(entity))) }
        if let actor { members.append(("actor", .string(actor))) }
        if let tenant { members.append(("tenant", .string(tenant.uuidString.lowercased()))) }
        if let from { members.append(("from", .string(RFC3339.string(from: from)))) }
        if let to { members.append(("to", .string(RFC3339.string(from: to)))) }
        if let cursor { members.append(("cursor", .string(String(cursor)))) }
        return .object(members)
    }

    /// The reply: the page, and `nextCursor` when the page is full.
    public func reply(_ events: [AuditEvent]) -> JSONValue {
        var members: [(String, JSONValue)] = [("events", .array(events.map(\.body)))]
        if events.count == limit, let last = events.last { members.append(("nextCursor", .string(String(last.id)))) }
        return .object(members)
    }
}
