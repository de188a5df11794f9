import Logging
import NotifyCore
import NotifyStore
import Postgres

/// Reads an authenticated call's request and picks its handler: the one implementation behind both transports (the
/// RPC queue and the HTTP API), which differ only in how a call arrives and how its reply leaves (`CommandReply`).
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

    /// Where a call's request comes from: its body and what brought it (`CommandInput.Carrier`).
    struct Request: Sendable {
        var body: [UInt8]
        var carrier: CommandInput.Carrier = .message
    }

    /// Runs `call` and hands its answer (or the error to answer with) to `reply`: at once for most commands, after
    /// the group commit for a send.
    func run(_ call: CommandCall, _ request: Request, on db: PGConnection, reply: @escaping SendCommitter.Reply) {
        do {
            switch try route(call, try input(call, request), on: db) {
            case .answer(let answer): reply(.success(answer))
            case .send(let send): committer.commit(send, reply: reply)
            }
        } catch {
            reply(.failure(error))
        }
    }

    /// `call`'s request read, before any database connection is taken: a body that cannot be read is refused as the
    /// command would refuse it (and audited for a send).
    func input(_ call: CommandCall, _ request: Request) throws(CommandFailure) -> CommandInput {
        do {
            return try CommandInput(request.body, for: call.command, by: request.carrier)
        } catch {
            throw refuse(call, error)
        }
    }

    /// What `call` comes to: its handler run on its input.
    func route(_ call: CommandCall, _ input: CommandInput, on db: PGConnection) throws -> Routed {
        let tenant = call.principal.tenant
        switch call.command {
        case .getUserNotifications:
            return .answer(try CommandHandlers.userNotifications(try GetUserNotifications(input), tenant: tenant, on: db))
        case .getNotificationDetails: return .answer(try CommandHandlers.details(try GetNotificationDetails(input), tenant: tenant, on: db))
        case .markNotificationRead: return .answer(try CommandHandlers.markRead(try MarkNotificationRead(input), tenant: tenant, on: db))
        case .watchProduct: return .answer(try CommandHandlers.watch(try WatchProduct(input), tenant: tenant, on: db))
        case .getStockLevels: return .answer(try CommandHandlers.stockLevels(try GetStockLevels(input), tenant: tenant, on: db))
        case .upsertRecipient:
            return .answer(
                try CommandHandlers.upsertRecipient(
                    try UpsertRecipient(input), categories: sending.settings.categories, by: call.principal, on: db))
        case .getRecipient: return .answer(try CommandHandlers.recipient(try GetRecipient(input), tenant: tenant, on: db))
        case .deleteRecipient: return .answer(try CommandHandlers.deleteRecipient(try DeleteRecipient(input), tenant: tenant, on: db))
        case .getDeliveryStatus:
            return .answer(
                try CommandHandlers.deliveryStatus(
                    try GetDeliveryStatus(input), visibility: call.principal.visibility, on: db))
        case .listDeliveries:
            return .answer(
                try CommandHandlers.listDeliveries(
                    try ListDeliveries(input), visibility: call.principal.visibility, on: db))
        case .listParked: return .answer(try CommandHandlers.listParked(try ListParked(input), on: db))
        case .redriveParked: return .answer(try CommandHandlers.redriveParked(try RedriveParked(input), call, on: db, logger: logger))
        case .purgeParked: return .answer(try CommandHandlers.purgeParked(try PurgeParked(input), call, on: db, logger: logger))
        case .createProduct: return .answer(try CommandHandlers.createProduct(try CreateProduct(input), call, on: db))
        case .createOrganizations: return .answer(try CommandHandlers.createOrganizations(try CreateOrganizations(input), call, on: db))
        case .getProduct: return .answer(try CommandHandlers.product(try GetProduct(input), call, on: db))
        case .getOrganization: return .answer(try CommandHandlers.organization(try GetOrganization(input), call, on: db))
        case .updateProduct: return .answer(try CommandHandlers.updateProduct(try UpdateProduct(input), call, on: db))
        case .updateOrganization: return .answer(try CommandHandlers.updateOrganization(try UpdateOrganization(input), call, on: db))
        case .rotateAPIKey:
            return .answer(
                try CommandHandlers.rotate(
                    try RotateAPIKey(input), call, graceSeconds: authenticator.settings.rotationGraceSeconds, on: db))
        case .revokeAPIKey: return .answer(try CommandHandlers.revoke(try RevokeAPIKey(input), call, on: db))
        case .createServiceKey: return .answer(try CommandHandlers.createServiceKey(try CreateServiceKey(input), call, on: db))
        case .listAuditEvents: return .answer(try CommandHandlers.auditEvents(try ListAuditEvents(input), call, on: db))
        case .listMessages:
            return .answer(try CommandHandlers.messages(try ListMessages(input), visibility: call.principal.visibility, on: db))
        case .getMessage: return .answer(try CommandHandlers.message(try GetMessage(input), visibility: call.principal.visibility, on: db))
        case .cancelRequest: return .answer(try CommandHandlers.cancel(try CancelRequest(input), call, on: db))
        case .sendNotification, .sendBatch: return .send(try prepareSend(call, input, on: db))
        case .publishTemplate:
            return .answer(try CommandHandlers.publishTemplate(try PublishTemplate(input), call, templates: sending.templates, on: db))
        case .rollbackTemplate:
            return .answer(try CommandHandlers.rollbackTemplate(try RollbackTemplate(input), call, templates: sending.templates, on: db))
        case .getTemplate: return .answer(try CommandHandlers.template(try GetTemplate(input), call, on: db))
        case .listTemplates: return .answer(try CommandHandlers.templates(try ListTemplates(input), call, on: db))
        case .previewTemplate:
            return .answer(try CommandHandlers.preview(try PreviewTemplate(input), call, templates: sending.templates, on: db))
        }
    }

    /// A send checked and planned; its refusal (a bad body, an unknown category) written to the audit trail.
    private func prepareSend(_ call: CommandCall, _ input: CommandInput, on db: PGConnection) throws -> PendingSend {
        do {
            let request = call.command == .sendBatch ? try SendBatch(input).request : try SendNotification(input).request
            return try CommandHandlers.prepareSend(request, batch: call.command == .sendBatch, call, context: sending, on: db)
        } catch let failure as CommandFailure {
            throw refuse(call, failure)
        }
    }

    /// A refusal of an authenticated call, to throw: a send's is counted for the audit trail first.
    private func refuse(_ call: CommandCall, _ failure: CommandFailure) -> CommandFailure {
        if [.sendNotification, .sendBatch].contains(call.command) {
            authenticator.refusals.refused(.refused(call.command, by: call.principal, failure: failure, requestID: call.requestID))
        }
        return failure
    }
}
