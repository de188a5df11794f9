import Logging
import NotifyCore
import NotifyStore
import Postgres

/// Picks the handler for an authenticated call and decodes its body: the one implementation behind every transport.
struct RPCRouter: Sendable {
    let authenticator: Authenticator
    let sending: SendContext
    let logger: Logger

    func route(_ call: RPCCall, body: [UInt8], on db: PGConnection) throws -> RPCHandlers.Answer {
        let tenant = call.principal.tenant
        switch call.command {
        case .getUserNotifications: return try RPCHandlers.userNotifications(try GetUserNotifications(body: body), on: db)
        case .getNotificationDetails: return try RPCHandlers.details(try GetNotificationDetails(body: body), on: db)
        case .markNotificationRead: return try RPCHandlers.markRead(try MarkNotificationRead(body: body), on: db)
        case .watchProduct: return try RPCHandlers.watch(try WatchProduct(body: body), on: db)
        case .getStockLevels: return try RPCHandlers.stockLevels(try GetStockLevels(body: body), on: db)
        case .upsertRecipient: return try RPCHandlers.upsertRecipient(try UpsertRecipient(body: body), tenant: tenant, on: db)
        case .getRecipient: return try RPCHandlers.recipient(try GetRecipient(body: body), tenant: tenant, on: db)
        case .deleteRecipient: return try RPCHandlers.deleteRecipient(try DeleteRecipient(body: body), tenant: tenant, on: db)
        case .getDeliveryStatus: return try RPCHandlers.deliveryStatus(
                try GetDeliveryStatus(body: body), visibility: call.principal.visibility, on: db)
        case .listDeliveries: return try RPCHandlers.listDeliveries(
                try ListDeliveries(body: body), visibility: call.principal.visibility, on: db)
        case .listParked: return try RPCHandlers.listParked(try ListParked(body: body), on: db)
        case .redriveParked: return try RPCHandlers.redriveParked(try RedriveParked(body: body), call, on: db, logger: logger)
        case .purgeParked: return try RPCHandlers.purgeParked(try PurgeParked(body: body), call, on: db, logger: logger)
        case .createProduct: return try RPCHandlers.createProduct(try CreateProduct(body: body), call, on: db)
        case .createOrganizations: return try RPCHandlers.createOrganizations(try CreateOrganizations(body: body), call, on: db)
        case .getProduct: return try RPCHandlers.product(try GetProduct(body: body), call, on: db)
        case .getOrganization: return try RPCHandlers.organization(try GetOrganization(body: body), call, on: db)
        case .updateProduct: return try RPCHandlers.updateProduct(try UpdateProduct(body: body), call, on: db)
        case .updateOrganization: return try RPCHandlers.updateOrganization(try UpdateOrganization(body: body), call, on: db)
        case .rotateAPIKey:
            return try RPCHandlers.rotate(
                try RotateAPIKey(body: body), call, graceSeconds: authenticator.settings.rotationGraceSeconds, on: db)
        case .revokeAPIKey: return try RPCHandlers.revoke(try RevokeAPIKey(body: body), call, on: db)
        case .createServiceKey: return try RPCHandlers.createServiceKey(try CreateServiceKey(body: body), call, on: db)
        case .listAuditEvents: return try RPCHandlers.auditEvents(try ListAuditEvents(body: body), call, on: db)
        case .listMessages: return try RPCHandlers.messages(try ListMessages(body: body), visibility: call.principal.visibility, on: db)
        case .getMessage: return try RPCHandlers.message(try GetMessage(body: body), visibility: call.principal.visibility, on: db)
        case .sendNotification: return try audited(call, on: db) {
                try RPCHandlers.send(try SendNotification(body: body).request, batch: false, call, context: sending, on: db)
            }
        case .sendBatch: return try audited(call, on: db) {
                try RPCHandlers.send(try SendBatch(body: body).request, batch: true, call, context: sending, on: db)
            }
        case .cancelRequest: return try RPCHandlers.cancel(try CancelRequest(body: body), call, on: db)
        }
    }

    /// Runs a send, writing its refusal (a bad body, an unknown category, a conflict) to the audit trail.
    private func audited(_ call: RPCCall, on db: PGConnection, _ send: () throws -> RPCHandlers.Answer) throws -> RPCHandlers.Answer {
        do {
            return try send()
        } catch let failure as RPCFailure {
            throw try refuse(call, failure, on: db)
        }
    }

    /// A refusal of an authenticated call, to throw: a send's is written to the audit trail first (a transport that
    /// refuses a body before it reaches `route`, such as HTTP's, comes here too).
    func refuse(_ call: RPCCall, _ failure: RPCFailure, on db: PGConnection) throws -> RPCFailure {
        if [.sendNotification, .sendBatch].contains(call.command) {
            try AuditStore.append([.refused(call.command, by: call.principal, actor: call.principal.actor, failure: failure,
                                            requestID: call.requestID)], on: db)
        }
        return failure
    }
}
