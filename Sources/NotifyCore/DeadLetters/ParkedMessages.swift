/// What a parked message is: an event that could not be processed, or a delivery that will not be made.
public enum ParkedKind: String, Sendable, CaseIterable { case event, delivery }

/// A message taken from the dead-letter queue into the archive, where it can be listed, redriven and purged.
public struct ParkedMessage: Sendable, Equatable {
    public var kind: ParkedKind
    public var reason: String
    public var detail: String
    /// Where it was published before it was parked: redrive sends it back there.
    public var exchange: String
    public var routingKey: String
    public var deliveryID: String?
    public var messageID: String?
    /// `{contentType?, type?, correlationId?, headers: {...}}`, the properties redrive publishes it with.
    public var properties: JSONValue
    public var body: [UInt8]

    public init(
        kind: ParkedKind, reason: String, detail: String, exchange: String, routingKey: String, deliveryID: String?,
        messageID: String?, properties: JSONValue, body: [UInt8]
    ) {
        self.kind = kind
        self.reason = reason
        self.detail = detail
        self.exchange = exchange
        self.routingKey = routingKey
        self.deliveryID = deliveryID
        self.messageID = messageID
        self.properties = properties
        self.body = body
    }

    /// Headers that say why and where a copy was parked; a redriven message goes out without them, so if it is
    /// parked again it carries only its new reason.
    public static func isParkingHeader(_ name: String) -> Bool {
        name.hasPrefix("x-dead-letter-") || name.hasPrefix("x-original-") || name == "x-death" || name.hasPrefix("x-first-death")
            || ["x-delivery-id", "x-channel", "x-attempts", "x-last-error-code", "x-last-error-class"].contains(name)
    }
}

/// One line of `ListParked`'s reply.
public struct ParkedSummary: Sendable, Equatable {
    public var id: Int64
    public var kind: String
    public var reason: String
    public var detail: String
    public var parkedAt: String
    public var routingKey: String?
    public var deliveryID: String?

    public init(id: Int64, kind: String, reason: String, detail: String, parkedAt: String, routingKey: String?, deliveryID: String?) {
        self.id = id
        self.kind = kind
        self.reason = reason
        self.detail = detail
        self.parkedAt = parkedAt
        self.routingKey = routingKey
        self.deliveryID = deliveryID
    }

    public var body: JSONValue {
        var members: [(String, JSONValue)] = [
            ("parkedId", .string(String(id))), ("kind", .string(kind)), ("reason", .string(reason)), ("detail", .string(detail)),
            ("parkedAt", .string(parkedAt)),
        ]
        if let routingKey { members.append(("routingKey", .string(routingKey))) }
        if let deliveryID { members.append(("deliveryId", .string(deliveryID))) }
        return .object(members)
    }
}

/// Which parked messages a redrive or purge acts on: exactly one of `parkedIds`, `reason` or `all: true`.
public enum ParkedSelection: Sendable, Equatable {
    case ids([Int64])
    case reason(String)
    case all

    /// At most this many are redriven or purged by one request (the reply says how many remain).
    public static let maxPerRequest = 10_000

    init(_ fields: JSONFields) throws(Rejection) {
        let ids = try fields.optionalStrings("parkedIds", maxCount: 1000)
        let reason = try fields.optionalString("reason", maxLength: 64)
        let all = fields.has("all") ? try fields.bool("all") : false
        switch (ids, reason, all) {
        case (let ids?, nil, false):
            var parsed: [Int64] = []
            for id in ids {
                guard let value = Int64(id), value > 0 else { throw Rejection(.schema, "field 'parkedIds' must hold parkedId values") }
                parsed.append(value)
            }
            self = .ids(parsed)
        case (nil, let reason?, false): self = .reason(reason)
        case (nil, nil, true): self = .all
        default: throw Rejection(.schema, "exactly one of 'parkedIds', 'reason' or 'all: true' must be given")
        }
    }

    var members: [(String, JSONValue)] {
        switch self {
        case .ids(let ids): [("parkedIds", .array(ids.map { .string(String($0)) }))]
        case .reason(let reason): [("reason", .string(reason))]
        case .all: [("all", .bool(true))]
        }
    }

    public var logDescription: String {
        switch self {
        case .ids(let ids): "\(ids.count) ids"
        case .reason(let reason): "reason \(reason.logSafe)"
        case .all: "all"
        }
    }
}

/// `ListParked {reason?, kind?, limit?: 1...100, cursor?}`: oldest first; `nextCursor` when there are more.
public struct ListParked: CommandRequest, Equatable {
    public static let command = Command.listParked
    public var reason: String?
    public var kind: ParkedKind?
    public var limit: Int
    /// The last `parkedId` of the previous page.
    public var after: Int64?

    public init(reason: String? = nil, kind: ParkedKind? = nil, limit: Int = 20, after: Int64? = nil) {
        self.reason = reason
        self.kind = kind
        self.limit = limit
        self.after = after
    }

    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do throws(Rejection) {
            reason = try fields.optionalString("reason", maxLength: 64)
            kind = try fields.optionalChoice("kind", ParkedKind.self)
            limit = try fields.integer("limit", default: 20, in: 1...100)
            if let cursor = try fields.optionalString("cursor", maxLength: 32) {
                guard let value = Int64(cursor), value >= 0 else {
                    throw Rejection(.schema, "field 'cursor' is not a cursor this service issued")
                }
                after = value
            } else {
                after = nil
            }
        } catch {
            throw error.asBadRequest
        }
    }

    public var body: JSONValue {
        var members: [(String, JSONValue)] = [("limit", .int(limit))]
        if let reason { members.append(("reason", .string(reason))) }
        if let kind { members.append(("kind", .string(kind.rawValue))) }
        if let after { members.append(("cursor", .string(String(after)))) }
        return .object(members)
    }

    /// `{parked: [...], nextCursor?}`; `page` holds up to `limit + 1` rows (the extra one says there are more).
    public func reply(_ page: [ParkedSummary]) -> JSONValue {
        var members: [(String, JSONValue)] = [("parked", .array(page.prefix(limit).map(\.body)))]
        if page.count > limit, let last = page.prefix(limit).last { members.append(("nextCursor", .string(String(last.id)))) }
        return .object(members)
    }
}

/// A request that acts on a selection of parked messages (redrive, purge): its body is the selection.
public protocol ParkedSelectionRequest: CommandRequest, Equatable {
    var selection: ParkedSelection { get }
    init(_ selection: ParkedSelection)
}

extension ParkedSelectionRequest {
    public init(_ input: CommandInput) throws(CommandFailure) {
        let fields = input.fields
        do { self.init(try ParkedSelection(fields)) } catch { throw error.asBadRequest }
    }

    public var body: JSONValue { .object(selection.members) }
}

/// `RedriveParked {parkedIds? | reason? | all?}`: events back to their exchange and routing key, deliveries back
/// to their lane with their delivery id, through the outbox in the transaction that removes them from the archive.
public struct RedriveParked: ParkedSelectionRequest {
    public static let command = Command.redriveParked
    public var selection: ParkedSelection

    public init(_ selection: ParkedSelection) { self.selection = selection }

    public static func reply(redriven: Int, remaining: Int) -> JSONValue {
        .object([("redriven", .int(redriven)), ("remaining", .int(remaining))])
    }
}

/// `PurgeParked {parkedIds? | reason? | all?}`: deletes from the archive for good.
public struct PurgeParked: ParkedSelectionRequest {
    public static let command = Command.purgeParked
    public var selection: ParkedSelection

    public init(_ selection: ParkedSelection) { self.selection = selection }

    public static func reply(purged: Int, remaining: Int) -> JSONValue {
        .object([("purged", .int(purged)), ("remaining", .int(remaining))])
    }
}
