/// The RPC envelope of the contract (docs/api.md), in one place for both ends: the command names, the `status` header, the
/// error body (`RPCFailure`), and typed requests that encode and decode. The server, `notifyctl`, the
/// reconciler and the tests all use it.
public enum RPCEnvelope {
    /// The reply header carrying the HTTP-like status.
    public static let statusHeader = "status"
    /// Requests are small: 16 KiB is plenty; a larger body is not even read (a 400 names its size).
    public static let maxRequestBytes = 16 * 1024

    /// The header carrying the caller's API key.
    public static let apiKeyHeader = "x-api-key"

    /// The body of a reply with a 2xx `status`, or the failure it reports. A reply without a status is not a
    /// success: the contract requires one.
    public static func body(status: Int?, body: [UInt8]) throws(RPCFailure) -> [UInt8] {
        guard let status else {
            throw RPCFailure(status: 502, code: "bad-reply", message: "the reply has no status header")
        }
        guard (200..<300).contains(status) else { throw RPCFailure(status: status, body: body) }
        return body
    }
}

/// The RPC commands this service answers, by the request's `type` property: those of the contract, plus
/// the extensions docs/api.md documents (`GetStockLevels`, the recipient directory, delivery tracking,
/// parked messages, tenants and keys, the audit trail).
public enum RPCCommand: String, Sendable, CaseIterable {
    case getUserNotifications = "GetUserNotifications"
    case getNotificationDetails = "GetNotificationDetails"
    case markNotificationRead = "MarkNotificationRead"
    case watchProduct = "WatchProduct"
    case getStockLevels = "GetStockLevels"
    case upsertRecipient = "UpsertRecipient"
    case getRecipient = "GetRecipient"
    case deleteRecipient = "DeleteRecipient"
    case getDeliveryStatus = "GetDeliveryStatus"
    case listDeliveries = "ListDeliveries"
    case listParked = "ListParked"
    case redriveParked = "RedriveParked"
    case purgeParked = "PurgeParked"
    case createProduct = "CreateProduct"
    case createOrganizations = "CreateOrganizations"
    case getProduct = "GetProduct"
    case getOrganization = "GetOrganization"
    case updateProduct = "UpdateProduct"
    case updateOrganization = "UpdateOrganization"
    case rotateAPIKey = "RotateApiKey"
    case revokeAPIKey = "RevokeApiKey"
    case createServiceKey = "CreateServiceKey"
    case listAuditEvents = "ListAuditEvents"
    case sendNotification = "SendNotification"
    case sendBatch = "SendBatch"
    case cancelRequest = "CancelRequest"
    case listMessages = "ListMessages"
    case getMessage = "GetMessage"
    case publishTemplate = "PublishTemplate"
    case rollbackTemplate = "RollbackTemplate"
    case getTemplate = "GetTemplate"
    case listTemplates = "ListTemplates"
    case previewTemplate = "PreviewTemplate"

    /// The largest body the command takes: 16 KiB, except a batch of sends and a template.
    public var maxRequestBytes: Int {
        switch self {
        case .sendBatch: SendBatch.maxRequestBytes
        case .publishTemplate, .previewTemplate: ProductTemplate.maxRequestBytes
        default: RPCEnvelope.maxRequestBytes
        }
    }
}

/// The RPC commands this service sends to other FlowMart services.
public enum RemoteRPCCommand: String, Sendable, CaseIterable {
    /// The inventory service's list query (`inventory.rpc`).
    case getInventoryList = "GetInventoryList"
}

/// A request this service answers: its command and its JSON body, both ways.
public protocol RPCRequest: Sendable {
    static var command: RPCCommand { get }
    init(body: [UInt8]) throws(RPCFailure)
    var body: JSONValue { get }
}
