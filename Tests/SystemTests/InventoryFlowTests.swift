import AMQP
import Foundation
import Postgres
import StackSupport
import Testing

@Suite("InventoryAdjusted → stock state → OutOfStock through the outbox", .needsStack)
struct InventoryFlowTests {
    static func adjustment(_ id: String, product: String, new: Int, adjusted: Int, second: Int, warehouse: String? = nil) -> [UInt8] {
        let warehouseField = warehouse.map { #","warehouse_id":"\#($0)""# } ?? ""
        return Array(
            #"{"event_id":"\#(id)","timestamp":"2026-11-21T10:00:\#(String(format: "%02d", second))Z","product_id":"\#(product)","adjusted_quantity":\#(adjusted),"new_quantity":\#(new)\#(warehouseField)}"#
                .utf8)
    }

    /// A queue bound to the test exchange for OutOfStock, as the services that care would bind one.
    static func outOfStockQueue(_ service: ServiceHarness) async throws -> String {
        let queue = "test.\(service.id).out-of-stock"
        try await service.client.declare(
            AMQPTopology(
                exchanges: [.init(name: service.exchange, type: "topic")],
                queues: [.init(name: queue)],
                bindings: [.init(queue: queue, exchange: service.exchange, routingKey: "inventory.out-of-stock")]))
        return queue
    }

    static func drain(_ queue: String, _ service: ServiceHarness, expected: Int, settle: Duration = .seconds(1)) async throws
        -> [AMQPDelivery]
    {
        var received: [AMQPDelivery] = []
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            // After a broker restart the test's own connection needs a moment to reconnect.
            let depth = (try? await service.client.queueStatus(queue).messageCount) ?? 0
            if depth >= UInt32(expected) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        try await Task.sleep(for: settle)  // anything extra (a duplicate) would arrive meanwhile
        let count = try await service.client.queueStatus(queue).messageCount
        let consumer = try await service.client.consume(queue: queue, prefetch: 100)
        var iterator = consumer.makeAsyncIterator()
        for _ in 0..<count {
            guard let delivery = await iterator.next() else { break }
            received.append(delivery)
            service.client.ack(delivery)
        }
        try await service.client.cancel(consumer)
        return received
    }

    static func level(_ service: ServiceHarness, _ product: String, _ warehouse: String = "") async throws -> (Int, Bool)? {
        try await service.db.withConnection { db in
            try db.query("SELECT quantity, out_of_stock FROM stock_levels WHERE product_id = \(product) AND warehouse_id = \(warehouse)")
                .first.map { try $0.decode(Int.self, Bool.self) }
        }
    }

    @Test("both payload shapes, including the catalog's decrease example, set the stock level")
    func bothShapes() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let catalog = Array(
            """
            {"eventId":"evt_inv_adj_3e92df","eventType":"InventoryAdjusted","timestamp":"2024-04-10T09:45:33Z",
             "data":{"adjustmentId":"adj_20241015","sku":"SKU-MOUSE-ERGO","productName":"Ergonomic Wireless Mouse",
             "warehouseId":"wh_east_01","adjustmentType":"decrease","previousQuantity":340,"adjustedQuantity":-18,
             "newQuantity":322,"reason":"damaged_goods","notes":"18 units found damaged during quarterly inventory audit",
             "adjustedBy":"warehouse_mgr_alee"},"metadata":{"correlationId":"corr_adj_002","version":"1.0.0"}}
            """.utf8)
        try await service.publish(
            [catalog, Self.adjustment("flat-1", product: "p-flat", new: 12, adjusted: 2, second: 1)],
            routingKey: "inventory.adjusted")
        var levels: [(Int, Bool)?] = []
        for _ in 0..<100 {
            levels = [try await Self.level(service, "SKU-MOUSE-ERGO", "wh_east_01"), try await Self.level(service, "p-flat")]
            if levels.allSatisfy({ $0 != nil }) { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(levels[0].map { $0.0 } == 322)
        #expect(levels[1].map { $0.0 } == 12)
        let reply = try await service.call("GetStockLevels", ["productId": "SKU-MOUSE-ERGO"])
        let items = reply.body["items"] as? [[String: Any]] ?? []
        #expect(reply.status == 200)
        #expect(items.count == 1)
        #expect(items.first?["warehouseId"] as? String == "wh_east_01")
        #expect(items.first?["quantity"] as? Int == 322)
        #expect(items.first?["outOfStock"] as? Bool == false)
        #expect(items.first?["asOf"] as? String == "2024-04-10T09:45:33.000000Z")
    }

    @Test("3 → 0 → 0 → 5 → 0 publishes exactly two OutOfStock with the right fields, correlation and message ids")
    func twoStockOuts() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let queue = try await Self.outOfStockQueue(service)
        let steps = [("a1", 3, 1), ("a2", 0, -3), ("a3", 0, 0), ("a4", 5, 5), ("a5", 0, -5)]
        for (second, step) in steps.enumerated() {
            try await service.publish(
                [Self.adjustment(step.0, product: "widget", new: step.1, adjusted: step.2, second: second, warehouse: "wh-1")],
                messageIDs: [step.0], routingKey: "inventory.adjusted")
        }
        let events = try await Self.drain(queue, service, expected: 2)
        #expect(events.count == 2)
        let bodies = events.compactMap { try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any] }
        #expect(bodies.map { $0["last_available_quantity"] as? Int } == [3, 5])
        #expect(bodies.allSatisfy { $0["product_id"] as? String == "widget" && $0["warehouse_id"] as? String == "wh-1" })
        #expect(events.map(\.properties.correlationID) == ["a2", "a5"])
        for (event, body) in zip(events, bodies) {
            #expect(event.properties.messageID == body["event_id"] as? String)
            #expect(event.properties.type == "OutOfStock")
            #expect(event.properties.persistent == true)
            #expect(event.properties.headers["version"] == .string("0.0.4"))
            #expect((body["timestamp"] as? String).flatMap { _ in true } == true)
        }
        #expect(try await Self.level(service, "widget", "wh-1").map { $0.1 } == true)
    }

    @Test("the same stock-out adjustment delivered three times has one effect")
    func duplicates() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let queue = try await Self.outOfStockQueue(service)
        let body = Self.adjustment("dup-1", product: "gadget", new: 0, adjusted: -4, second: 0)
        try await service.publish([body, body, body], messageIDs: ["dup-1", "dup-1", "dup-1"], routingKey: "inventory.adjusted")
        try await service.publish([body], messageIDs: [nil], routingKey: "inventory.adjusted")  // falls back to event_id
        let events = try await Self.drain(queue, service, expected: 1, settle: .seconds(2))
        #expect(events.count == 1)
    }

    @Test("an OutOfStock pending while the broker is down is published once it is back, exactly once")
    func brokerDownWhilePending() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let queue = try await Self.outOfStockQueue(service)
        try await service.publish(
            [Self.adjustment("up-1", product: "thing", new: 5, adjusted: 5, second: 0)],
            routingKey: "inventory.adjusted")
        while try await Self.level(service, "thing") == nil { try await Task.sleep(for: .milliseconds(50)) }

        #expect(try StackControl.rabbitmqctl("stop_app") == 0)
        // The stock-out is committed while the broker is away: the adjustment is written straight to the outbox path
        // by the daemon's own store, as ingestion would have done just before the broker went down.
        let exchange = service.exchange
        try await service.db.transaction { db in
            _ = try db.execute(
                """
                INSERT INTO outbox (message_id, exchange, routing_key, type, version, correlation_id, body)
                VALUES ('pending-1', \(exchange), 'inventory.out-of-stock', 'OutOfStock', '0.0.4', 'up-2',
                        '{"event_id":"pending-1","timestamp":"2026-11-21T10:00:01.000Z","product_id":"thing","last_available_quantity":5}')
                """)
        }
        try await Task.sleep(for: .seconds(2))
        #expect(try StackControl.rabbitmqctl("start_app") == 0)

        let events = try await Self.drain(queue, service, expected: 1, settle: .seconds(2))
        #expect(events.count == 1)
        #expect(events.first?.properties.messageID == "pending-1")
        #expect(events.first?.properties.correlationID == "up-2")
        let unsent = try await service.db.withConnection { try $0.query("SELECT count(*) FROM outbox")[0].decode(0, as: Int.self) }
        #expect(unsent == 0)
    }

    @Test("bad inventory payloads, including the catalog's placeholder example, are parked")
    func badPayloadsParked() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let placeholder = Array(
            #"{"Name": "John Doe", "Age": 30, "Department": "Engineering", "Position": "Software Engineer", "Salary": 85000.50, "JoinDate": "2024-01-15"}"#
                .utf8)
        let fractional = Array(
            #"{"event_id":"f","timestamp":"2026-11-21T10:00:00Z","product_id":"p","adjusted_quantity":1.5,"new_quantity":2}"#.utf8)
        try await service.publish([placeholder, fractional, Array("nope".utf8)], routingKey: "inventory.adjusted")
        let parked = try await service.drainParked(expected: 3)
        let reasons = parked.compactMap { delivery -> String? in
            if case .string(let reason)? = delivery.properties.headers["x-dead-letter-reason"] { return reason }
            return nil
        }
        #expect(reasons.sorted() == ["invalid-json", "schema", "schema"])
        #expect(parked.contains { $0.body == placeholder })
    }
}

@Suite("Stock notifications and back-in-stock wishes", .needsStack)
struct StockNotificationTests {
    static func titles(_ service: ServiceHarness, _ user: String) async throws -> [String] {
        let reply = try await service.call("GetUserNotifications", ["userId": user, "limit": 100])
        return (reply.body["notifications"] as? [[String: Any]] ?? []).compactMap { $0["title"] as? String }.reversed()
    }

    @Test("watchers hear about low stock and stock-outs; a WatchProduct wish is told once, then spent")
    func noticesAndWishes() async throws {
        let service = try await ServiceHarness(environment: [
            "NOTIFY_INVENTORY_WATCHERS": "ops-1,ops-2", "NOTIFY_INVENTORY_LOW_STOCK_THRESHOLD": "5",
        ])
        defer { Task { await service.shutDown() } }
        func adjust(_ id: String, new: Int, adjusted: Int, second: Int) async throws {
            try await service.publish(
                [InventoryFlowTests.adjustment(id, product: "lamp", new: new, adjusted: adjusted, second: second)],
                messageIDs: [id], routingKey: "inventory.adjusted")
        }
        try await adjust("w1", new: 10, adjusted: 2, second: 1)  // in stock, above the threshold: nothing
        try await adjust("w2", new: 4, adjusted: -6, second: 2)  // low stock
        try await adjust("w3", new: 0, adjusted: -4, second: 3)  // stock-out
        for _ in 0..<2 {  // idempotent
            let watch = try await service.call("WatchProduct", ["userId": "alice", "productId": "lamp"])
            #expect(watch.status == 200)
            #expect(watch.body["watching"] as? Bool == true)
        }
        try await adjust("w4", new: 7, adjusted: 7, second: 4)  // back in stock: alice is told
        try await adjust("w5", new: 0, adjusted: -7, second: 5)  // stock-out again
        try await adjust("w6", new: 9, adjusted: 9, second: 6)  // back again: the wish was spent
        #expect(try await service.waitForStored(2 + 2 + 1 + 2) == 7)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await service.storedCount() == 7)
        #expect(try await Self.titles(service, "ops-1") == ["Low stock: lamp", "Out of stock: lamp", "Out of stock: lamp"])
        #expect(try await Self.titles(service, "ops-2").count == 3)
        #expect(try await Self.titles(service, "alice") == ["Back in stock: lamp"])
        let bad = try await service.call("WatchProduct", ["userId": "alice"])
        #expect(bad.status == 400)
    }
}
