import Foundation

/// An outbox message held until `due`: a scheduled send's delivery job.
public struct ScheduledMessage: Sendable, Equatable {
    public var due: Date
    public var message: OutboxMessage

    public init(due: Date, message: OutboxMessage) {
        self.due = due
        self.message = message
    }
}

extension SendRequest {
    /// How far ahead a send may be scheduled.
    public static let maxScheduleAhead: TimeInterval = 30 * 86_400

    /// When this send's deliveries should leave, seen at `now`: nil for at once (no `scheduledAt`, or one in the
    /// past or within the next second: a caller's clock a little off never holds a send back); a time more than
    /// `maxScheduleAhead` off is 400.
    public func schedule(now: Date) throws(CommandFailure) -> Date? {
        guard let scheduledAt, scheduledAt.timeIntervalSince(now) > 1 else { return nil }
        guard scheduledAt.timeIntervalSince(now) <= Self.maxScheduleAhead else {
            throw .badRequest("field 'scheduledAt' is more than \(Int(Self.maxScheduleAhead / 86_400)) days ahead")
        }
        return scheduledAt
    }
}

extension CommitPlan {
    /// This plan with its deliveries held until `due`: those it would queue are `scheduled`, and their jobs wait
    /// in `scheduled` instead of the outbox (skipped deliveries stay skipped); its in-app notifications show in the
    /// inbox from `due`.
    public func scheduled(at due: Date) -> CommitPlan {
        var plan = self
        plan.notifications = notifications.map { notification in
            var notification = notification
            if notification.channels.contains(.inApp) { notification.visibleFrom = due }
            return notification
        }
        plan.deliveries = deliveries.map { delivery in
            var delivery = delivery
            if delivery.status == .queued { delivery.status = .scheduled }
            return delivery
        }
        plan.scheduled += outbox.map { ScheduledMessage(due: due, message: $0) }
        plan.outbox = []
        return plan
    }
}
