import AMQP
import Foundation
import NotifyStore
import Postgres
import StackSupport

/// The verdict on one run, judged like RabbitMQ's Jepsen tests: for every event the broker confirmed, its effect
/// must be there once. A payment's effect is its notification (the in-app row) and its email in the SMTP peer's
/// Maildir; an adjustment's is the OutOfStock a consuming service receives.
struct Verdict {
    var confirmed = 0
    /// Confirmed events with no effect (or only part of it: a notification whose email never arrived).
    var lost = 0
    /// Two notifications for one payment, or two OutOfStock (distinct message ids) for one adjustment.
    var duplicated = 0
    /// Extra copies of one email (same Message-ID): a send in flight when something died, recognisable as such.
    var duplicateSends = 0
    /// Extra copies of one OutOfStock (same message id): the outbox relay's at-least-once, deduplicated by id.
    var duplicatePublishes = 0
    /// Deliveries the daemons gave up on (`dead`): each is also counted lost.
    var dead = 0
    var examples: [String] = []

    var clean: Bool { lost == 0 && duplicated == 0 }

    func line(_ name: String) -> String {
        "\(name): lost=\(lost) duplicated=\(duplicated) duplicate_sends=\(duplicateSends) (confirmed=\(confirmed) duplicate_publishes=\(duplicatePublishes) dead=\(dead))"
    }
}

enum Checker {
    /// Waits (up to `timeout`) until every confirmed event has had its chance: notifications stored, OutOfStock
    /// captured, no delivery still queued, sending or waiting for a retry, every sent email received.
    static func waitUntilSettled(_ rig: ChaosRig, _ load: LoadGenerator, timeout: Duration) async -> Bool {
        let indexes = load.confirmed
        let payments = indexes.filter { LoadGenerator.kind($0) == .payment }.count
        let adjustments = indexes.count - payments
        let tag = rig.tag
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let state = try? await rig.db.withConnection { try Census.settling(usersPrefixed: tag + "-", on: $0) }
            let captured = (try? await rig.client.queueStatus(rig.outOfStockQueue).messageCount).map(Int.init) ?? 0
            if let (stored, active, sent) = state, stored >= payments, active == 0, captured >= adjustments, rig.smtp.received >= sent {
                return true
            }
            try? await Task.sleep(for: .milliseconds(500))
        }
        return false
    }

    static func judge(_ rig: ChaosRig, _ load: LoadGenerator) async throws -> Verdict {
        var verdict = Verdict()
        let indexes = load.confirmed
        verdict.confirmed = Set(indexes).count
        let tag = rig.tag
        // Payments: notifications by event, and each notification's email by its delivery's Message-ID.
        let rows = try await rig.db.withConnection { try Census.emails(usersPrefixed: tag + "-", on: $0) }
        var byEvent: [String: [(delivery: String?, status: String?)]] = [:]
        for (key, delivery, status) in rows { byEvent[key, default: []].append((delivery, status)) }
        let mail = Dictionary(rig.smtp.messageIDs().map { ($0, 1) }, uniquingKeysWith: +)
        verdict.duplicateSends = mail.values.reduce(0) { $0 + $1 - 1 }
        for index in Set(indexes) where LoadGenerator.kind(index) == .payment {
            let key = load.messageID(index)
            guard let notifications = byEvent[key] else {
                verdict.lost += 1
                verdict.note("\(key): no notification")
                continue
            }
            if notifications.count > 1 {
                verdict.duplicated += 1
                verdict.note("\(key): \(notifications.count) notifications")
            }
            let delivery = notifications[0]
            if delivery.status == "dead" { verdict.dead += 1 }
            guard let id = delivery.delivery, mail["<\(id)@flowmart.example>"] != nil else {
                verdict.lost += 1
                verdict.note("\(key): no email received (delivery \(delivery.status ?? "missing"))")
                continue
            }
        }
        // Adjustments: OutOfStock captured, grouped by the adjustment that caused it (correlation_id).
        var outOfStock: [String: [String]] = [:]
        for message in try await drain(rig) {
            outOfStock[message.properties.correlationID ?? "?", default: []].append(message.properties.messageID ?? "?")
        }
        for index in Set(indexes) where LoadGenerator.kind(index) == .adjustment {
            let key = load.messageID(index)
            guard let ids = outOfStock[key] else {
                verdict.lost += 1
                verdict.note("\(key): no OutOfStock")
                continue
            }
            let distinct = Set(ids).count
            if distinct > 1 {
                verdict.duplicated += 1
                verdict.note("\(key): \(distinct) OutOfStock")
            }
            verdict.duplicatePublishes += ids.count - distinct
        }
        return verdict
    }

    /// Everything the capture queue holds, acked.
    private static func drain(_ rig: ChaosRig) async throws -> [AMQPDelivery] {
        let count = Int(try await rig.client.queueStatus(rig.outOfStockQueue).messageCount)
        guard count > 0 else { return [] }
        let consumer = try await rig.client.consume(queue: rig.outOfStockQueue, prefetch: 500)
        var received: [AMQPDelivery] = []
        var iterator = consumer.makeAsyncIterator()
        while received.count < count, let delivery = await iterator.next() {
            received.append(delivery)
            rig.client.ack(delivery)
        }
        try await rig.client.cancel(consumer)
        return received
    }
}

extension Verdict {
    /// Keeps the first few examples of what went wrong, for the report.
    mutating func note(_ example: String) {
        if examples.count < 10 { examples.append(example) }
    }
}
