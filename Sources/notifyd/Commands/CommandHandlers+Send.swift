import Foundation
import NotifyCore
import NotifyStore
import Postgres

/// What the send API needs besides the request: the planner that turns a notification into deliveries and jobs,
/// the categories, the products' templates, and the outbox's doorbell.
struct SendContext: Sendable {
    let planner: DeliveryPlanner
    let settings: SendSettings
    let templates: TemplateCache
    /// Wakes this daemon's outbox relay after a commit, so an accepted send is on its lane at once.
    let outboxCommitted: @Sendable () -> Void
}

/// A send, checked and planned on the caller's thread, waiting for its group commit (`SendCommitter`).
struct PendingSend: Sendable {
    let call: CommandCall
    /// `SendBatch`'s reply (per recipient) rather than `SendNotification`'s (per delivery).
    let batch: Bool
    let acceptance: SendStore.Acceptance
}

extension CommandHandlers {
    /// A send (`SendNotification`) or a batch of them (`SendBatch`) checked and planned: its lane from the
    /// category, its notifications, deliveries and jobs, its audit row. Nothing is written yet; `SendCommitter`
    /// answers 202 once it is durably queued and audited.
    static func prepareSend(_ request: SendRequest, batch: Bool, _ call: CommandCall, context: SendContext, on db: PGConnection) throws
        -> PendingSend
    {
        guard let tenant = call.principal.tenant else {
            throw CommandFailure.forbidden("sends are made with a product's or an organization's key")
        }
        guard let lane = context.settings.categories.lane(request.category) else {
            throw CommandFailure.badRequest(
                "field 'messageCategory' is not a category this service knows (see /openapi.json or docs/api.md)")
        }
        let requestID = context.planner.newID()
        let record = SendStore.Request(
            id: requestID, tenant: tenant, idempotencyKey: request.idempotencyKey, hash: request.hash, category: request.category,
            lane: lane, sender: call.principal.actor)
        let texts = try contents(of: request, tenant: tenant, templates: context.templates, on: db)
        let notifications = zip(request.recipients, texts.contents).map { recipient, content in
            request.notification(
                for: recipient, content: content, template: texts.template, id: context.planner.newID(),
                requestID: requestID, tenant: tenant, lane: lane)
        }
        let due = try request.schedule(now: Date())
        var plan = context.planner.plan(notifications: notifications)
        if let due { plan = plan.scheduled(at: due) }
        let queued = plan.deliveries.filter { $0.status == .queued || $0.status == .scheduled }.count
        let audit = AuditEntry(
            actor: call.principal.actor, tenant: tenant, entity: "request:\(requestID)", action: "send.accepted", requestID: requestID,
            detail: "\(request.category) on the \(lane.rawValue) lane to \(notifications.count) recipient(s)"
                + (texts.template.map { " with template \($0.name) version \($0.version)" } ?? "") + ": "
                + "\(queued) of \(plan.deliveries.count) deliveries "
                + (due.map { "scheduled for \(RFC3339.string(from: $0))" } ?? "queued"))
        return PendingSend(
            call: call, batch: batch,
            acceptance: SendStore.Acceptance(
                request: record, addresses: request.recipients.filter(\.hasAddresses), plan: plan, audit: audit))
    }

    /// What each recipient of `request` is sent, in the recipients' order: the request's own content, or its
    /// template's live version rendered in the recipient's language (the recipient's `locale`, else its directory
    /// entry's, else the request's), rendered once per variant, all of them within one `RenderAllowance`. An unknown
    /// template, or data it cannot render, is 400 naming the field.
    private static func contents(of request: SendRequest, tenant: Tenant, templates: TemplateCache, on db: PGConnection) throws
        -> (template: CompiledTemplate?, contents: [RenderedContent])
    {
        switch request.message {
        case .content(let content):
            return (nil, Array(repeating: content.rendered, count: request.recipients.count))
        case .template(let use):
            guard let template = try templates.live(product: tenant.productID, name: use.name, on: db) else {
                throw CommandFailure.badRequest("field 'template.name': this product has no template '\(use.name)' (PublishTemplate first)")
            }
            let directory = try RecipientStore.locales(
                of: request.recipients.filter { $0.locale == nil }.map(\.userID), in: tenant.namespace, on: db)
            var byVariant: [String?: RenderedContent] = [:]
            let allowance = RenderAllowance()
            let contents = try request.recipients.map { recipient in
                let locale = recipient.locale ?? directory[recipient.userID] ?? request.locale
                let tag = template.source.variant(for: locale).tag
                if let done = byVariant[tag] { return done }
                let content: RenderedContent
                do throws(Rejection) { content = try template.render(locale: locale, data: use.data, allowance: allowance) } catch {
                    throw error.asBadRequest
                }
                byVariant[tag] = content
                return content
            }
            return (template, contents)
        }
    }

    /// The 202 for an accepted send.
    static func accepted(_ send: PendingSend) -> Answer {
        let (requestID, plan) = (send.acceptance.request.id, send.acceptance.plan)
        return Answer(
            body: send.batch ? batchReply(requestID, plan.notifications, plan) : singleReply(requestID, plan.notifications[0], plan),
            status: 202)
    }

    /// The answer to a repeated idempotency key: 208 with the first request's id for the same request, else 409.
    static func repeated(_ earlier: SendStore.Repeat, windowHours: Int) -> Result<Answer, CommandFailure> {
        switch earlier {
        case .duplicate(let first):
            .success(Answer(body: .object([("requestId", .string(first)), ("duplicate", .bool(true))]), status: 208))
        case .conflict:
            .failure(
                CommandFailure(
                    status: 409, code: "idempotency-conflict",
                    message: "this idempotencyKey was used for a different request within \(windowHours) h"))
        }
    }

    /// `{requestId, notificationId, deliveries: [{deliveryId, channel, status}]}`; in-app, when asked for, is the
    /// notification itself (its id), `delivered` by the commit (`scheduled` until a scheduled send's time), as
    /// `GetDeliveryStatus` shows it.
    private static func singleReply(_ requestID: String, _ notification: NewNotification, _ plan: CommitPlan) -> JSONValue {
        var deliveries = plan.deliveries.map { delivery -> JSONValue in
            .object([
                ("deliveryId", .string(delivery.id)), ("channel", .string(delivery.channel.rawValue)),
                ("status", .string(delivery.status.rawValue)),
            ])
        }
        if notification.channels.contains(.inApp) {
            deliveries.insert(
                .object([
                    ("deliveryId", .string(notification.id)), ("channel", .string(NotificationChannel.inApp.rawValue)),
                    ("status", .string((notification.isVisible(at: Date()) ? DeliveryStatus.delivered : .scheduled).rawValue)),
                ]),
                at: 0)
        }
        return .object([
            ("requestId", .string(requestID)), ("notificationId", .string(notification.id)), ("deliveries", .array(deliveries)),
        ])
    }

    /// `{requestId, accepted, recipients: [{userId, notificationId}], queued, skipped}`: how many recipients were
    /// accepted (the contract's `accepted`: each got a notification), per recipient its notification (which
    /// `GetDeliveryStatus` follows), and the deliveries counted rather than listed.
    private static func batchReply(_ requestID: String, _ notifications: [NewNotification], _ plan: CommitPlan) -> JSONValue {
        let queued = plan.deliveries.filter { $0.status == .queued || $0.status == .scheduled }.count
        return .object([
            ("requestId", .string(requestID)), ("accepted", .int(notifications.count)),
            ("recipients", .array(notifications.map { .object([("userId", .string($0.userID)), ("notificationId", .string($0.id))]) })),
            ("queued", .int(queued)), ("skipped", .int(plan.deliveries.count - queued)),
        ])
    }

    /// Stops what a send request has not sent yet: its deliveries still queued or waiting for a retry become
    /// `cancelled` (their jobs find nothing to do); 404 for a request the caller cannot see.
    static func cancel(_ command: CancelRequest, _ call: CommandCall, on db: PGConnection) throws -> Answer {
        guard
            let outcome = try SendStore.cancel(
                command.requestID, visibility: call.principal.visibility, actor: call.principal.actor,
                on: db)
        else { throw CommandFailure.notFound("no send request with this requestId") }
        return Answer(
            body: .object([
                ("requestId", .string(command.requestID)), ("cancelled", .int(outcome.cancelled)), ("inFlight", .int(outcome.inFlight)),
                ("finished", .int(outcome.finished)),
            ]))
    }
}
