/// The commands this service answers, over RPC (by the request's `type` property) and HTTP (by route) alike: those
/// of the contract, plus the extensions docs/api.md documents (`GetStockLevels`, the recipient directory, delivery tracking,
/// parked messages, tenants and keys, the audit trail).
public enum Command: String, Sendable, CaseIterable {
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

    /// Requests are small: 16 KiB is plenty; a larger body is not even read (a 400 names its size).
    public static let defaultMaxRequestBytes = 16 * 1024

    /// The largest body the command takes: 16 KiB, except a batch of sends and a template.
    public var maxRequestBytes: Int {
        switch self {
        case .sendBatch: SendBatch.maxRequestBytes
        case .publishTemplate, .previewTemplate: ProductTemplate.maxRequestBytes
        default: Self.defaultMaxRequestBytes
        }
    }
}

/// A request this service answers: its command, read from a `CommandInput`, and its JSON body (what a client sends).
public protocol CommandRequest: Sendable {
    static var command: Command { get }
    init(_ input: CommandInput) throws(CommandFailure)
    var body: JSONValue { get }
}

extension CommandRequest {
    /// The request a body alone makes (as over RPC), read within the command's limits.
    public init(body: [UInt8]) throws(CommandFailure) {
        try self.init(CommandInput(body, for: Self.command))
    }
}
