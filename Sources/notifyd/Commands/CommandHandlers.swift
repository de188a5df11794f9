import Logging
import NotifyCore
import NotifyStore
import Postgres

/// One small handler per command: a typed request in, the 200 reply's body and headers out; a failure is thrown
/// as the `CommandFailure` to answer with. They run on a database connection's own thread.
enum CommandHandlers {
    struct Answer {
        var body: JSONValue
        /// Reply headers: every one a command sets is a whole number (counts).
        var headers: [(name: String, value: Int)] = []
        /// 200, or 201 for what a command created.
        var status = 200
    }

    /// A page of the inbox (the caller's tenant's users', FlowMart's for service keys), with `x-total-count` and
    /// `x-unread-count`.
    static func userNotifications(_ query: GetUserNotifications, tenant: Tenant?, on db: PGConnection) throws -> Answer {
        let page = try NotificationStore.page(query, tenant: tenant, on: db)
        return Answer(
            body: InboxReplies.userNotifications(userID: query.userID, page.notifications),
            headers: [("x-total-count", page.total), ("x-unread-count", page.unread)])
    }

    /// One notification; 404 for an unknown id or another user's notification.
    static func details(_ query: GetNotificationDetails, tenant: Tenant?, on db: PGConnection) throws -> Answer {
        guard let notification = try NotificationStore.details(query.notificationID, tenant: tenant, on: db),
            query.userID == nil || query.userID == notification.userID
        else { throw CommandFailure.notFound("no notification with this notificationId for this user") }
        return Answer(body: InboxReplies.details(notification))
    }

    /// Marks read, idempotently; 404 as for details.
    static func markRead(_ command: MarkNotificationRead, tenant: Tenant?, on db: PGConnection) throws -> Answer {
        guard try NotificationStore.markRead(command.notificationID, userID: command.userID, tenant: tenant, on: db) else {
            throw CommandFailure.notFound("no notification with this notificationId for this user")
        }
        return Answer(body: InboxReplies.markedRead(command.notificationID))
    }

    /// Records a back-in-stock wish, idempotently. FlowMart's stock and its users' wishes: not a tenant's.
    static func watch(_ command: WatchProduct, tenant: Tenant?, on db: PGConnection) throws -> Answer {
        guard tenant == nil else {
            throw CommandFailure.forbidden("back-in-stock wishes are FlowMart's users'; a tenant's key cannot make them")
        }
        try WatchStore.watch(productID: command.productID, userID: command.userID, on: db)
        return Answer(body: InboxReplies.watching(userID: command.userID, productID: command.productID))
    }

    /// The stock levels the service knows (FlowMart's inventory: not for a tenant's key).
    static func stockLevels(_ query: GetStockLevels, tenant: Tenant?, on db: PGConnection) throws -> Answer {
        guard tenant == nil else { throw CommandFailure.forbidden("stock levels are FlowMart's; a tenant's key cannot read them") }
        return Answer(body: InboxReplies.stockLevels(try StockStore.levels(productID: query.productID, limit: query.limit, on: db)))
    }

    /// Creates or changes a user's directory entry (in the caller's tenant's directory, FlowMart's for service keys);
    /// the reply is the entry as stored. Opt-outs name categories of `categories`, none of them critical; a change of
    /// them or of the quiet hours is written to the audit trail with the entry.
    static func upsertRecipient(
        _ change: UpsertRecipient, categories: MessageCategories, by principal: Principal,
        on db: PGConnection
    ) throws -> Answer {
        if case .set(let optOuts) = change.optOuts { try OptOut.check(optOuts, against: categories) }
        let audit =
            change.optOuts == .keep && change.quietHours == .keep
            ? nil
            : AuditEntry(
                actor: principal.actor, tenant: principal.tenant, entity: "recipient:\(change.userID)", action: "preferences.changed")
        let stored = try RecipientStore.upsert(change, in: principal.tenant.namespace, audit: audit, on: db)
        return Answer(body: stored.recipient.body(updatedAt: stored.updatedAt))
    }

    /// A user's directory entry; 404 when there is none.
    static func recipient(_ query: GetRecipient, tenant: Tenant?, on db: PGConnection) throws -> Answer {
        guard let stored = try RecipientStore.get(query.userID, in: tenant.namespace, on: db) else {
            throw CommandFailure.notFound("no recipient with this userId")
        }
        return Answer(body: stored.recipient.body(updatedAt: stored.updatedAt))
    }

    /// Erases a user's directory entry, idempotently.
    static func deleteRecipient(_ command: DeleteRecipient, tenant: Tenant?, on db: PGConnection) throws -> Answer {
        let deleted = try RecipientStore.delete(command.userID, in: tenant.namespace, on: db)
        return Answer(body: .object([("userId", .string(command.userID)), ("deleted", .bool(deleted))]))
    }

    /// Every channel of one notification; 404 for an unknown notification or another tenant's.
    static func deliveryStatus(_ query: GetDeliveryStatus, visibility: Visibility, on db: PGConnection) throws -> Answer {
        guard let deliveries = try DeliveryStore.status(of: query.notificationID, visibility: visibility, on: db) else {
            throw CommandFailure.notFound("no notification with this notificationId")
        }
        return Answer(body: GetDeliveryStatus.reply(notificationID: query.notificationID, deliveries))
    }

    /// A page of deliveries, newest first: a tenant's key sees only its own, a service key only FlowMart's.
    static func listDeliveries(_ query: ListDeliveries, visibility: Visibility, on db: PGConnection) throws -> Answer {
        Answer(body: query.reply(try DeliveryStore.list(query, visibility: visibility, on: db)))
    }

    /// The seed's tracking: a page of messages (one per delivery), newest first, with the totals it pages by.
    /// 503 `query-timeout` when it runs past its bound (`ListMessages.timeLimitMilliseconds`).
    static func messages(_ query: ListMessages, visibility: Visibility, on db: PGConnection) throws -> Answer {
        do {
            let (messages, total) = try DeliveryStore.messages(query, visibility: visibility, on: db)
            return Answer(body: query.reply(messages, total: total))
        } catch let error as PGError where error.isCancelled {
            throw ListMessages.tooSlow
        }
    }

    /// One message; 404 for an unknown one or one the caller cannot see (the two are not told apart).
    static func message(_ query: GetMessage, visibility: Visibility, on db: PGConnection) throws -> Answer {
        guard let message = try DeliveryStore.message(query.messageID, visibility: visibility, on: db) else {
            throw CommandFailure.notFound("no message with this messageId")
        }
        return Answer(body: message.body)
    }

    /// A page of the parked-message archive, oldest first.
    static func listParked(_ query: ListParked, on db: PGConnection) throws -> Answer {
        Answer(body: query.reply(try ParkedStore.list(query, on: db)))
    }

    /// Redrives parked messages through the outbox; logged with who asked and how many.
    static func redriveParked(_ command: RedriveParked, _ call: CommandCall, on db: PGConnection, logger: Logger) throws -> Answer {
        let (redriven, remaining) = try ParkedStore.redrive(command.selection, on: db)
        logger.notice(
            "redrove parked messages",
            metadata: [
                "actor": "\(call.principal.actor)", "client": "\(call.client ?? "-")",
                "parked.selection": "\(command.selection.logDescription)", "parked.redriven": "\(redriven)",
                "parked.remaining": "\(remaining)",
            ])
        return Answer(body: RedriveParked.reply(redriven: redriven, remaining: remaining))
    }

    /// Deletes parked messages for good; logged with who asked and how many.
    static func purgeParked(_ command: PurgeParked, _ call: CommandCall, on db: PGConnection, logger: Logger) throws -> Answer {
        let (purged, remaining) = try ParkedStore.purge(command.selection, on: db)
        logger.notice(
            "purged parked messages",
            metadata: [
                "actor": "\(call.principal.actor)", "client": "\(call.client ?? "-")",
                "parked.selection": "\(command.selection.logDescription)", "parked.purged": "\(purged)",
                "parked.remaining": "\(remaining)",
            ])
        return Answer(body: PurgeParked.reply(purged: purged, remaining: remaining))
    }
}
