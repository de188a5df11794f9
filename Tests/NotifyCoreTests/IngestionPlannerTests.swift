import Foundation
import Synchronization
import Testing

@testable import NotifyCore

@Suite("The ingestion planner: what events become, without I/O")
struct IngestionPlannerTests {
    /// A planner over the shipped rules whose ids count up (`id-1`, `id-2`, ...).
    static func planner(watchers: [String] = ["ops"], threshold: Int = 10, delivering: Set<NotificationChannel> = [.inApp]) throws
        -> IngestionPlanner
    {
        let counter = Atomic<Int>(0)
        return IngestionPlanner(
            renderer: try TemplateTests.shippedRenderer(),
            policy: InventoryPolicy(watchers: watchers, lowStockThreshold: threshold),
            outOfStockExchange: "flowmart.events", deliveringChannels: delivering,
            newID: { "id-\(counter.add(1, ordering: .relaxed).newValue)" })
    }

    static func adjustment(_ key: String, _ time: String, new: Int, adjusted: Int, product: String = "p-1") -> ConsumedEvent {
        ConsumedEvent(
            consumer: "InventoryAdjusted", key: key,
            effect: .adjustStock(InventoryTests.flat(key, time, new: new, adjusted: adjusted, product: product)))
    }

    static func level(_ quantity: Int, _ time: String = "2026-01-01T00:00:00Z") -> StockLevel {
        StockLevel(quantity: quantity, outOfStock: quantity <= 0, asOf: RFC3339.date(from: time)!)
    }

    @Test("a payment becomes its rendered notification; one no rule announces is only recorded")
    func payments() throws {
        let planner = try Self.planner()
        let decoded = { (status: String) throws in
            try EventDecoder().decode(
                routingKey: "payment.processed", messageID: "m-\(status)",
                body: Array(
                    #"{"transactionId":"t","userId":"u-1","orderId":"o","amount":5,"currency":"USD","status":"\#(status)","timestamp":"2026-01-01T00:00:00Z"}"#
                        .utf8),
                now: RFC3339.date(from: "2026-01-01T00:00:01Z")!)
        }
        let confirmed = planner.effect(of: try decoded("confirmed"))
        guard case .notify(let notification) = confirmed.effect else {
            Issue.record("expected a notification")
            return
        }
        #expect(confirmed.key == "m-confirmed" && confirmed.consumer == "PaymentProcessed")
        #expect(notification.userID == "u-1" && notification.sourceEventKey == "m-confirmed")
        #expect(planner.effect(of: try decoded("pending")).effect == .recordOnly)
        let plan = planner.plan([confirmed, planner.effect(of: try decoded("pending"))], state: StockState())
        #expect(plan.notifications == [notification])
        #expect(plan.stockChanges.isEmpty && plan.outbox.isEmpty && plan.spentWatches.isEmpty)
        // The shipped rule also emails; without an email provider that delivery is skipped and nothing is queued.
        #expect(plan.deliveries.map(\.channel) == [.email], "an in-app notification is its own delivery: no row of its own")
        #expect(plan.deliveries.map(\.status) == [.skipped])
    }

    @Test("one delivery per channel that leaves the building: without a provider skipped, with one queued")
    func fanOut() throws {
        var notification = try #require(
            try TemplateTests.shippedRenderer().notification(
                for: try TemplateTests.payment("confirmed"), eventKey: "k", id: "n-1"))
        notification.channels = [.inApp, .email, .sms]
        let deliveries = try Self.planner(delivering: [.email]).delivery.deliveries(of: notification)
        #expect(deliveries.map(\.channel) == [.email, .sms])
        #expect(deliveries.map(\.status) == [.queued, .skipped])
        #expect(deliveries.map(\.reason) == [nil, "no-provider"])
        #expect(Set(deliveries.map(\.id)).count == 2 && deliveries.allSatisfy { $0.notificationID == "n-1" && $0.userID == "u-1" })
    }

    @Test("a queued delivery leaves through the outbox as a job on its lane, with its rendered email; a skipped one does not")
    func jobs() throws {
        let planner = try Self.planner(delivering: [.email])
        let decoded = try EventDecoder().decode(
            routingKey: "payment.processed", messageID: "m-1",
            body: Array(
                #"{"transactionId":"t","userId":"u-1","orderId":"o-9","amount":5,"currency":"USD","status":"failed","timestamp":"2026-01-01T00:00:00Z"}"#
                    .utf8),
            now: RFC3339.date(from: "2026-01-01T00:00:01Z")!)
        let plan = planner.plan([planner.effect(of: decoded)], state: StockState())
        let delivery = try #require(plan.deliveries.first)
        #expect(delivery.channel == .email && delivery.status == .queued)
        let message = try #require(plan.outbox.first)
        #expect(plan.outbox.count == 1)
        #expect(message.exchange == "notifications.work" && message.routingKey == "high", "failed payments are high priority")
        #expect(message.messageID == delivery.id && message.type == DeliveryJob.type && message.correlationID == delivery.notificationID)
        let job = try DeliveryJob(body: Array(message.body.utf8))
        #expect(job.deliveryID == delivery.id && job.userID == "u-1" && job.lane == .high && job.transactional)
        #expect(job.content.subject == "Your payment for order o-9 failed")
        #expect(job.content.text.contains("did not go through") && job.content.html?.contains("<strong>o-9</strong>") == true)
    }

    @Test(
        "a job carries its rule's fallback only when a provider delivers on it; the fallback job is the same notification on that channel")
    func fallbackJobs() throws {
        var notification = try #require(
            try TemplateTests.shippedRenderer().notification(
                for: try TemplateTests.payment("confirmed"), eventKey: "k", id: "n-1"))
        notification.channels = [.inApp, .push]
        notification.fallbacks = [.push: .sms]
        let with = try Self.planner(delivering: [.push, .sms])
        let push = try #require(with.delivery.deliveries(of: notification).first)
        let job = try #require(with.delivery.job(for: push, of: notification))
        #expect(job.fallback == .sms)
        #expect(try DeliveryJob(body: job.body.bytes) == job, "the fallback rides in the job's body")
        let fallback = try #require(job.fallbackJob(id: "d-2"))
        #expect(fallback.channel == .sms && fallback.deliveryID == "d-2" && fallback.notificationID == "n-1" && fallback.fallback == nil)
        #expect(fallback.lane == job.lane && fallback.content.text == job.content.text && fallback.content.html == nil)
        let without = try Self.planner(delivering: [.push])
        let unbacked = try #require(without.delivery.deliveries(of: notification).first)
        #expect(
            try #require(without.delivery.job(for: unbacked, of: notification)).fallback == nil,
            "no SMS provider: no fallback")
        var old = job
        old.fallback = nil
        #expect(try DeliveryJob(body: old.body.bytes).fallback == nil, "a job without one reads as before")
    }

    @Test("a stock-out: one OutOfStock through the outbox, watchers told, the level written once per product")
    func stockOut() throws {
        let planner = try Self.planner()
        let events = [
            Self.adjustment("a", "2026-01-01T00:00:01Z", new: 0, adjusted: -4),
            Self.adjustment("b", "2026-01-01T00:00:02Z", new: -1, adjusted: -1),
        ]
        let plan = planner.plan(events, state: StockState(levels: [ProductKey(productID: "p-1", warehouseID: ""): Self.level(4)]))
        #expect(plan.outbox.count == 1)
        let message = try #require(plan.outbox.first)
        #expect(message.correlationID == "a" && message.exchange == "flowmart.events")
        #expect(message.messageID.hasPrefix("id-") && !plan.notifications.map(\.id).contains(message.messageID))
        #expect(message.routingKey == "inventory.out-of-stock" && message.type == "OutOfStock" && message.version == "0.0.4")
        let body = try JSONSerialization.jsonObject(with: Data(message.body.utf8)) as! [String: Any]
        #expect(body["last_available_quantity"] as? Int == 4 && body["product_id"] as? String == "p-1")
        #expect(plan.notifications.map(\.userID) == ["ops"])
        #expect(plan.notifications.first?.sourceEventKey == "a")
        #expect(
            plan.stockChanges == [
                StockChange(
                    product: ProductKey(productID: "p-1", warehouseID: ""),
                    level: StockLevel(quantity: -1, outOfStock: true, asOf: RFC3339.date(from: "2026-01-01T00:00:02Z")!),
                    sourceKey: "b")
            ])
    }

    @Test("an adjustment older than the stored level changes nothing and announces nothing")
    func stale() throws {
        let plan = try Self.planner().plan(
            [Self.adjustment("late", "2025-12-31T23:59:59Z", new: 0, adjusted: -5)],
            state: StockState(levels: [ProductKey(productID: "p-1", warehouseID: ""): Self.level(5)]))
        #expect(plan.isEmpty)
    }

    @Test("back in stock spends exactly the wishes loaded, once, and tells those users")
    func backInStock() throws {
        let planner = try Self.planner()
        let state = StockState(
            levels: [ProductKey(productID: "p-1", warehouseID: ""): Self.level(0)],
            watchers: ["p-1": ["u-a", "u-b"], "p-2": ["u-c"]])
        let plan = planner.plan(
            [
                Self.adjustment("up", "2026-01-01T00:00:01Z", new: 20, adjusted: 20),
                Self.adjustment("down", "2026-01-01T00:00:02Z", new: 0, adjusted: -20),
                Self.adjustment("up-again", "2026-01-01T00:00:03Z", new: 20, adjusted: 20),
            ], state: state)
        #expect(plan.spentWatches == [SpentWatch(productID: "p-1", userID: "u-a"), SpentWatch(productID: "p-1", userID: "u-b")])
        let backInStock = plan.notifications.filter { $0.sourceEventKey.hasPrefix("up") }
        #expect(backInStock.map(\.userID) == ["u-a", "u-b"], "the second back-in-stock has nobody left to tell")
        #expect(plan.outbox.map(\.correlationID) == ["down"])
    }

    @Test("low stock: crossing the threshold while above zero tells the watchers")
    func lowStock() throws {
        let plan = try Self.planner(threshold: 10).plan(
            [Self.adjustment("low", "2026-01-01T00:00:01Z", new: 8, adjusted: -7)],
            state: StockState(levels: [ProductKey(productID: "p-1", warehouseID: ""): Self.level(15)]))
        #expect(plan.notifications.map(\.userID) == ["ops"])
        #expect(plan.notifications.first?.type == "inventory")
        #expect(plan.outbox.isEmpty)
    }

    @Test("products to lock: distinct and sorted, payments excluded")
    func products() {
        let events = [
            Self.adjustment("1", "2026-01-01T00:00:01Z", new: 1, adjusted: 1, product: "b"),
            Self.adjustment("2", "2026-01-01T00:00:01Z", new: 1, adjusted: 1, product: "a"),
            Self.adjustment("3", "2026-01-01T00:00:01Z", new: 2, adjusted: 1, product: "b"),
            ConsumedEvent(consumer: "PaymentProcessed", key: "p", effect: .recordOnly),
        ]
        #expect(IngestionPlanner.products(of: events).map(\.productID) == ["a", "b"])
    }

    @Test("reconciliation: an unknown stock-out is raised once; a known one is not")
    func reconcile() throws {
        let planner = try Self.planner()
        let now = RFC3339.date(from: "2026-02-01T00:00:00Z")!
        let item = InventoryList.Item(productID: "p-9", location: "wh", quantity: 0)
        let plan = try #require(planner.reconcile(item, known: Self.level(3), round: "r-1", now: now))
        #expect(plan.stockChanges.map(\.level) == [StockLevel(quantity: 0, outOfStock: true, asOf: Self.level(3).asOf)])
        #expect(plan.outbox.map(\.correlationID) == ["r-1"])
        #expect(plan.notifications.isEmpty)
        #expect(planner.reconcile(item, known: Self.level(0), round: "r-1", now: now) == nil)
        let unseen = try #require(planner.reconcile(item, known: nil, round: "r-2", now: now))
        #expect(unseen.stockChanges.first?.level.asOf == now)
        let body = try JSONSerialization.jsonObject(with: Data(unseen.outbox[0].body.utf8)) as! [String: Any]
        #expect(body["last_available_quantity"] == nil)
    }
}
