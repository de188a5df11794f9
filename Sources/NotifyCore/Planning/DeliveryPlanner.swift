/// What notifications become, decided without I/O: one delivery per channel that leaves the building (queued, or
/// skipped when no provider delivers on it), and for each queued one the job that carries it to its lane through
/// the outbox, or its place in the recipient's digest. Events' notifications (`IngestionPlanner`) and the send API's
/// take the same path.
public struct DeliveryPlanner: Sendable {
    /// The channels something delivers on: in-app always; another channel once its provider is configured.
    /// A delivery on any other channel is recorded `skipped` (`no-provider`), never left waiting.
    public let deliveringChannels: Set<NotificationChannel>
    /// Where delivery jobs are published, on their lane's routing key (`delivery.workExchange`).
    public let workExchange: String
    /// Mints ids (notifications, deliveries, digests): random UUIDs in production, a sequence in tests.
    public let newID: @Sendable () -> String

    public init(
        deliveringChannels: Set<NotificationChannel> = [.inApp], workExchange: String = "notifications.work",
        newID: @escaping @Sendable () -> String
    ) {
        self.deliveringChannels = deliveringChannels.union([.inApp])
        self.workExchange = workExchange
        self.newID = newID
    }

    /// The plan for notifications decided elsewhere (the send API's): each with its deliveries and their jobs.
    public func plan(notifications: [NewNotification]) -> CommitPlan {
        var plan = CommitPlan()
        add(notifications, to: &plan)
        return plan
    }

    /// Each notification with its deliveries; a queued one goes to its lane through the outbox, or, when the
    /// notification asks for a digest and the channel is batched, into the recipient's digest (`batched`).
    func add(_ notifications: [NewNotification], to plan: inout CommitPlan) {
        for notification in notifications {
            var deliveries = deliveries(of: notification)
            for index in deliveries.indices {
                guard let job = job(for: deliveries[index], of: notification) else { continue }
                if let policy = notification.digest, DigestPolicy.channels.contains(job.channel) {
                    deliveries[index].status = .batched
                    plan.digestItems.append(
                        DigestItem(
                            job: job, kind: notification.type, policy: policy, newDigestID: newID(), newDeliveryID: newID(),
                            exchange: workExchange))
                } else {
                    plan.outbox.append(OutboxMessage(job, exchange: workExchange))
                }
            }
            plan.add(notification, deliveries: deliveries)
        }
    }

    /// The deliveries to write for a notification: one per channel of its rule that leaves the building, queued
    /// when a provider delivers on it and skipped (`no-provider`) when none does. In-app needs no row of its own:
    /// the notification's inbox row is its delivery, delivered by the commit that writes it (so in-app-only
    /// ingestion writes nothing more than before), and the tracking queries report it from that row.
    public func deliveries(of notification: NewNotification) -> [NewDelivery] {
        notification.channels.filter { $0 != .inApp }.map { channel in
            // The catalog renders an email for every rule with the channel; without one nothing could be sent.
            let reason =
                !deliveringChannels.contains(channel)
                ? "no-provider"
                : channel == .email && notification.email == nil ? "no-template" : nil
            return NewDelivery(
                id: newID(), notificationID: notification.id, userID: notification.userID, channel: channel,
                status: reason == nil ? .queued : .skipped, reason: reason, tenant: notification.tenant)
        }
    }

    /// The job that carries a queued delivery to its lane, with the content its channel sends; nil for a delivery
    /// that is not queued.
    func job(for delivery: NewDelivery, of notification: NewNotification) -> DeliveryJob? {
        guard delivery.status == .queued else { return nil }
        let content: MessageContent
        switch delivery.channel {
        case .email:
            guard let email = notification.email else { return nil }  // skipped (`no-template`) by `deliveries(of:)`
            content = email
        case .sms, .push, .webhook, .inApp:
            content =
                notification.channelTexts[delivery.channel]
                ?? MessageContent(subject: notification.title, text: notification.message, html: nil)
        }
        let fallback = notification.fallbacks[delivery.channel].flatMap { deliveringChannels.contains($0) ? $0 : nil }
        return DeliveryJob(
            deliveryID: delivery.id, notificationID: notification.id, userID: notification.userID, channel: delivery.channel,
            lane: notification.priority, transactional: notification.transactional, content: content, fallback: fallback,
            tenant: notification.tenant, retries: notification.retries, category: notification.category)
    }
}
