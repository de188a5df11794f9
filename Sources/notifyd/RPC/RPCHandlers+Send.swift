import Foundation
import NotifyCore
import NotifyStore
import Postgres

/// What the send API needs besides the request: the planner that turns a notification into deliveries and jobs,
/// the categories, and the outbox's doorbell.
struct SendContext: Sendable {
    let planner: IngestionPlanner
    let settings: SendSettings
    /// Wakes this daemon's outbox relay after a commit, so an accepted send is on its lane at once.
    let outboxCommitted: @Sendable () -> Void
}

extension RPCHandlers {
    /// A send (`SendNotification`) or a batch of them (`SendBatch`): 202 with its request id once it is durably
    /// queued and audited; 208 with the first request's id for a repeated idempotency key with the same request, 409
    /// with another.
    static func send(_ request: SendRequest, batch: Bool, _ call: RPCCall, context: SendContext, on db: PGConnection) throws -> Answer {
        guard let tenant = call.principal.tenant else {
            throw RPCFailure.forbidden("sends are made with a product's or an organization's key")
        }
        guard let lane = context.settings.categories.lane(request.category) else {
            throw RPCFailure.badRequest("field 'messageCategory' is not a category this service knows (see the README's send section)")
        }
        let requestID = context.planner.newID()
        let record = SendStore.Request(
            id: requestID, tenant: tenant, idempotencyKey: request.idempotencyKey, hash: request.hash, category: request.category,
            lane: lane, sender: call.principal.actor)
        // The quota is taken first, in a statement of its own (a row lock held for a transaction would queue every
        // send of the tenant behind the one before), and handed back if nothing is written. A repeat of an accepted
        // request is answered as one even over the quota.
        let quotaKey = "quota:\(tenant.namespace.uuidString.lowercased())"
        if let quota = context.settings.quota,
           let retryAfter = try RateLimitStore.admit(quotaKey, count: request.recipients.count, limit: quota, on: db) {
            guard let earlier = try SendStore.earlier(record, on: db) else { throw RPCFailure.overQuota(retryAfter: retryAfter) }
            return try answer(earlier, context: context)
        }
        func releaseQuota() {
            guard let quota = context.settings.quota else { return }
            try? RateLimitStore.release(quotaKey, count: request.recipients.count, limit: quota, on: db)
        }
        let notifications = request.recipients.map { recipient in
            request.notification(for: recipient, id: context.planner.newID(), requestID: requestID, tenant: tenant, lane: lane)
        }
        let plan = context.planner.plan(notifications: notifications)
        let queued = plan.deliveries.filter { $0.status == .queued }.count
        let audit = AuditEntry(
            actor: call.principal.actor, tenant: tenant, entity: "request:\(requestID)", action: "send.accepted", requestID: requestID,
            detail: "\(request.category) on the \(lane.rawValue) lane to \(notifications.count) recipient(s): "
                + "\(queued) of \(plan.deliveries.count) deliveries queued")
        let outcome: SendStore.Outcome
        do {
            outcome = try SendStore.accept(
                record, addresses: request.recipients.filter(\.hasAddresses), plan: plan, audit: audit,
                windowHours: context.settings.idempotencyHours, on: db)
        } catch {
            releaseQuota()
            throw error
        }
        if case .repeated(let earlier) = outcome {
            releaseQuota()
            return try answer(earlier, context: context)
        }
        context.outboxCommitted()
        return Answer(body: batch ? batchReply(requestID, notifications, plan) : singleReply(requestID, notifications[0], plan), status: 202)
    }

    /// The answer to a repeated idempotency key: 208 with the first request's id for the same request, else 409.
    private static func answer(_ earlier: SendStore.Repeat, context: SendContext) throws -> Answer {
        switch earlier {
        case .duplicate(let first):
            return Answer(body: .object([("requestId", .string(first)), ("duplicate", .bool(true))]), status: 208)
        case .conflict:
            throw RPCFailure(status: 409, code: "idempotency-conflict",
                             message: "this idempotencyKey was used for a different request within \(context.settings.idempotencyHours) h")
        }
    }

    /// `{requestId, notificationId, deliveries: [{deliveryId, channel, status}]}`.
    private static func singleReply(_ requestID: String, _ notification: NewNotification, _ plan: IngestionPlan) -> JSONValue {
        .object([
            ("requestId", .string(requestID)), ("notificationId", .string(notification.id)),
            ("deliveries", .array(plan.deliveries.map { delivery in
                .object([("deliveryId", .string(delivery.id)), ("channel", .string(delivery.channel.rawValue)),
                         ("status", .string(delivery.status.rawValue))])
            })),
        ])
    }

    /// `{requestId, recipients: [{userId, notificationId}], queued, skipped}`: per recipient its notification (which
    /// `GetDeliveryStatus` follows), and the deliveries counted rather than listed.
    private static func batchReply(_ requestID: String, _ notifications: [NewNotification], _ plan: IngestionPlan) -> JSONValue {
        let queued = plan.deliveries.filter { $0.status == .queued }.count
        return .object([
            ("requestId", .string(requestID)),
            ("recipients", .array(notifications.map { .object([("userId", .string($0.userID)), ("notificationId", .string($0.id))]) })),
            ("queued", .int(queued)), ("skipped", .int(plan.deliveries.count - queued)),
        ])
    }

    /// Stops what a send request has not sent yet: its deliveries still queued or waiting for a retry become
    /// `cancelled` (their jobs find nothing to do); 404 for a request the caller cannot see.
    static func cancel(_ command: CancelRequest, _ call: RPCCall, on db: PGConnection) throws -> Answer {
        guard let outcome = try SendStore.cancel(command.requestID, visibility: call.principal.visibility, actor: call.principal.actor,
                                                 on: db)
        else { throw RPCFailure.notFound("no send request with this requestId") }
        return Answer(body: .object([
            ("requestId", .string(command.requestID)), ("cancelled", .int(outcome.cancelled)), ("inFlight", .int(outcome.inFlight)),
            ("finished", .int(outcome.finished)),
        ]))
    }
}
