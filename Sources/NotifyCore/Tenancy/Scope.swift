/// What a key may do. Every command (over RPC or HTTP) needs one of them (`Command.scopes`); the events flow needs none (the
/// broker's permissions authorise it).
public enum Scope: String, Sendable, CaseIterable, Comparable {
    /// `SendNotification`, `SendBatch`, `CancelRequest`.
    case send
    /// Tracking: `ListMessages`, `GetMessage`, `GetDeliveryStatus`, `ListDeliveries` (a tenant's key sees its own).
    case track
    /// Inbox reads: `GetUserNotifications`, `GetNotificationDetails`, `GetStockLevels`.
    case inboxRead = "inbox-read"
    /// Inbox changes: `MarkNotificationRead`, `WatchProduct`.
    case inboxWrite = "inbox-write"
    /// The recipient directory: `UpsertRecipient`, `GetRecipient`, `DeleteRecipient` (a tenant's key: its own directory).
    case recipients
    /// A product's own organisations and keys, its name, its templates, its audit trail.
    case manage
    /// Everything, for every tenant: onboarding, service keys, parked messages, the whole audit trail.
    case admin

    /// What a product's key gets (its recipients and its users' in-app inboxes are its own).
    public static let product: [Scope] = [.send, .track, .recipients, .manage, .inboxRead, .inboxWrite]
    /// What an organisation's key gets.
    public static let organization: [Scope] = [.send, .track, .recipients, .inboxRead, .inboxWrite]
    /// What a service key may be given (FlowMart's own services; they belong to no tenant).
    public static let service: [Scope] = [.inboxRead, .inboxWrite, .recipients, .track]
    /// The inbox commands a deployment may leave to the broker's permissions (`auth.inboxRequiresKey: false`).
    public static let inbox: Set<Scope> = [.inboxRead, .inboxWrite]

    public static func < (lhs: Scope, rhs: Scope) -> Bool { lhs.rawValue < rhs.rawValue }
}

extension Command {
    /// The scopes of which a caller needs one (admin holds all of them).
    public var scopes: Set<Scope> {
        switch self {
        case .getUserNotifications, .getNotificationDetails, .getStockLevels: [.inboxRead]
        case .markNotificationRead, .watchProduct: [.inboxWrite]
        case .upsertRecipient, .getRecipient, .deleteRecipient: [.recipients]
        case .getDeliveryStatus, .listDeliveries, .listMessages, .getMessage: [.track]
        case .sendNotification, .sendBatch, .cancelRequest: [.send]
        case .listParked, .redriveParked, .purgeParked, .createProduct, .createServiceKey: [.admin]
        case .createOrganizations, .updateProduct, .updateOrganization, .listAuditEvents, .publishTemplate, .rollbackTemplate: [.manage]
        // Those who send with a product's templates may read and try them.
        case .getTemplate, .listTemplates, .previewTemplate: [.manage, .send]
        // Any key may rotate or revoke itself; whose else it may is `Access.authorise(_:toManage:)`.
        case .rotateAPIKey, .revokeAPIKey: Set(Scope.allCases)
        case .getProduct, .getOrganization: [.manage, .track]
        }
    }

    /// Whether the command changes something: a refusal of one is written to the audit trail.
    public var changesState: Bool {
        switch self {
        case .getUserNotifications, .getNotificationDetails, .getStockLevels, .getRecipient, .getDeliveryStatus, .listDeliveries,
            .listParked, .getProduct, .getOrganization, .listAuditEvents, .listMessages, .getMessage, .getTemplate, .listTemplates,
            .previewTemplate:
            false
        case .markNotificationRead, .watchProduct, .upsertRecipient, .deleteRecipient, .redriveParked, .purgeParked,
            .createProduct, .createServiceKey, .createOrganizations, .updateProduct, .updateOrganization, .rotateAPIKey,
            .revokeAPIKey, .sendNotification, .sendBatch, .cancelRequest, .publishTemplate, .rollbackTemplate:
            true
        }
    }
}
