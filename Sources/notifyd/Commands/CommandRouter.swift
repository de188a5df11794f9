import Logging
import NotifyCore
import NotifyStore
import Postgres

/// Picks the handler for an authenticated call and decodes its body: the one implementation behind every transport.
struct CommandRouter: Sendable {
    let authenticator: Authenticator
    let sending: SendContext
    /// Where checked sends wait for their group commit.
    let committer: SendCommitter
    let logger: Logger

    /// What a call comes to on the caller's database thread: its answer, or a send checked and planned, which
    /// `committer` answers once written.
    enum Routed {
        case answer(CommandHandlers.Answer)
        case send(PendingSend)
    }

    /// Runs `call` and hands its answer (or the error to answer with) to `reply`: at once for most commands, after
    /// the group commit for a send.
    func run(_ call: CommandCall, body: [UInt8], on db: PGConnection, reply: @escaping SendCommitter.Reply) {
        do {
            switch try route(call, body: body, on: db) {
            case .answer(let answer): reply(.success(answer))
            case .send(let send): committer.commit(send, reply: reply)
            }
        } catch {
            reply(.failure(error))
        }
    }

    func route(_ call: CommandCall, body: [UInt8], on db: PGConnection) throws -> Routed {
        let tenant = call.principal.tenant
        switch call.command {
        case .getUserNotifications:
            return .answer(try CommandHandlers.userNotifications(try GetUserNotifications(body: body), tenant: tenant, on: db))
        case .getNotificationDetails: return .answer(try CommandHandlers.details(try GetNotificationDetails(body: body), tenant: tenant, on: db))
        case .markNotificationRead: return .answer(try CommandHandlers.markRead(try MarkNotificationRead(body: body), tenant: tenant, on: db))
        case .watchProduct: return .answer(try CommandHandlers.watch(try WatchProduct(body: body), tenant: tenant, on: db))
        case .getStockLevels: return .answer(try CommandHandlers.stockLevels(try GetStockLevels(body: body), tenant: tenant, on: db))
        case .upsertRecipient:
            return .answer(try CommandHandlers.upsertRecipient(
                try UpsertRecipient(body: body), categories: sending.settings.categories, by: call.principal, on: db))
        case .getRecipient: return .answer(try CommandHandlers.recipient(try GetRecipient(body: body), tenant: tenant, on: db))
        case .deleteRecipient: return .answer(try CommandHandlers.deleteRecipient(try DeleteRecipient(body: body), tenant: tenant, on: db))
        case .getDeliveryStatus: return .answer(try CommandHandlers.deliveryStatus(
                try GetDeliveryStatus(body: body), visibility: call.principal.visibility, on: db))
        case .listDeliveries: return .answer(try CommandHandlers.listDeliveries(
                try ListDeliveries(body: body), visibility: call.principal.visibility, on: db))
        case .listParked: return .answer(try CommandHandlers.listParked(try ListParked(body: body), on: db))
        case .redriveParked: return .answer(try CommandHandlers.redriveParked(try RedriveParked(body: body), call, on: db, logger: logger))
        case .purgeParked: return .answer(try CommandHandlers.purgeParked(try PurgeParked(body: body), call, on: db, logger: logger))
        case .createProduct: return .answer(try CommandHandlers.createProduct(try CreateProduct(body: body), call, on: db))
        case .createOrganizations: return .answer(try CommandHandlers.createOrganizations(try CreateOrganizations(body: body), call, on: db))
        case .getProduct: return .answer(try CommandHandlers.product(try GetProduct(body: body), call, on: db))
        case .getOrganization: return .answer(try CommandHandlers.organization(try GetOrganization(body: body), call, on: db))
        case .updateProduct: return .answer(try CommandHandlers.updateProduct(try UpdateProduct(body: body), call, on: db))
        case .updateOrganization: return .answer(try CommandHandlers.updateOrganization(try UpdateOrganization(body: body), call, on: db))
        case .rotateAPIKey:
            return .answer(try CommandHandlers.rotate(
                try RotateAPIKey(body: body), call, graceSeconds: authenticator.settings.rotationGraceSeconds, on: db))
        case .revokeAPIKey: return .answer(try CommandHandlers.revoke(try RevokeAPIKey(body: body), call, on: db))
        case .createServiceKey: return .answer(try CommandHandlers.createServiceKey(try CreateServiceKey(body: body), call, on: db))
        case .listAuditEvents: return .answer(try CommandHandlers.auditEvents(try ListAuditEvents(body: body), call, on: db))
        case .listMessages: return .answer(try CommandHandlers.messages(try ListMessages(body: body), visibility: call.principal.visibility, on: db))
        case .getMessage: return .answer(try CommandHandlers.message(try GetMessage(body: body), visibility: call.principal.visibility, on: db))
        case .cancelRequest: return .answer(try CommandHandlers.cancel(try CancelRequest(body: body), call, on: db))
        case .sendNotification, .sendBatch: return .send(try prepareSend(call, body: body, on: db))
        case .publishTemplate:
            return .answer(try CommandHandlers.publishTemplate(try PublishTemplate(body: body), call, templates: sending.templates, on: db))
        case .rollbackTemplate:
            return .answer(try CommandHandlers.rollbackTemplate(try RollbackTemplate(body: body), call, templates: sending.templates, on: db))
        case .getTemplate: return .answer(try CommandHandlers.template(try GetTemplate(body: body), call, on: db))
        case .listTemplates: return .answer(try CommandHandlers.templates(try ListTemplates(body: body), call, on: db))
        case .previewTemplate: return .answer(try CommandHandlers.preview(try PreviewTemplate(body: body), call, templates: sending.templates, on: db))
        }
    }

    /// A send checked and planned; its refusal (a bad body, an unknown category) written to the audit trail.
    private func prepareSend(_ call: CommandCall, body: [UInt8], on db: PGConnection) throws -> PendingSend {
        do {
            let request = call.command == .sendBatch ? try SendBatch(body: body).request : try SendNotification(body: body).request
            return try CommandHandlers.prepareSend(request, batch: call.command == .sendBatch, call, context: sending, on: db)
        } catch let failure as CommandFailure {
            throw refuse(call, failure)
        }
    }

    /// A refusal of an authenticated call, to throw: a send's is counted for the audit trail first (a transport that
    /// refuses a body before it reaches `route`, such as HTTP's, comes here too).
    func refuse(_ call: CommandCall, _ failure: CommandFailure) -> CommandFailure {
        if [.sendNotification, .sendBatch].contains(call.command) {
            authenticator.refusals.refused(.refused(call.command, by: call.principal, failure: failure, requestID: call.requestID))
        }
        return failure
    }
}
