import AMQP
import Foundation
import StackSupport
import Synchronization
import Testing

@Suite("GetInventoryList reconciliation", .needsStack)
struct ReconciliationTests {
    /// An inventory service stand-in: answers GetInventoryList from a fixed list, in pages, over the real broker.
    final class InventoryResponder: Sendable {
        private let requests = Mutex<[Data]>([])
        let connection: AMQPConnection
        let consumer: AMQPConsumer

        init(service: ServiceHarness, queue: String, items: [[String: String]], answers: Bool) async throws {
            var configuration = try AMQPConfiguration(url: DaemonProcess.stackEnvironment["NOTIFY_AMQP_URL"]!)
            configuration.connectionName = "inventory-responder"
            connection = AMQPConnection(configuration: configuration, confirmMode: false, logger: ServiceHarness.logger)
            try await connection.connect()
            try await connection.declare(AMQPTopology(queues: [.init(name: queue, durable: false, autoDelete: true)]))
            consumer = try await connection.consume(queue: queue, prefetch: 10)
            let (connection, consumer) = (connection, consumer)
            Task { [self] in
                for await request in consumer {
                    let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any] ?? [:]
                    record(Data(request.body))
                    if answers {
                        let pagination = body["pagination"] as? [String: Any] ?? [:]
                        let (page, size) = (pagination["page"] as? Int ?? 1, pagination["pageSize"] as? Int ?? 10)
                        let slice = items.dropFirst((page - 1) * size).prefix(size).map { item -> [String: Any] in
                            var converted: [String: Any] = item
                            converted["quantity"] = Int(item["quantity"] ?? "0") ?? 0
                            return converted
                        }
                        let reply: [String: Any] = ["items": slice, "page": page, "pageSize": size, "total": items.count]
                        connection.reply(
                            to: request, body: Array(try! JSONSerialization.data(withJSONObject: reply)),
                            headers: ["status": 200])
                    }
                    connection.ack(request)
                }
            }
        }

        private func record(_ body: Data) { requests.withLock { $0.append(body) } }
        var count: Int { requests.withLock { $0.count } }
        var first: [String: Any]? {
            requests.withLock { $0.first }.flatMap { try? JSONSerialization.jsonObject(with: $0) as? [String: Any] }
        }
        func close() async { await connection.close() }
    }

    @Test("raises, through the outbox, exactly the stock-outs it had no record of, once, across rounds and pages")
    func raisesUnknownStockOuts() async throws {
        let id = UUID().uuidString.prefix(8).lowercased()
        let queue = "test.\(id).inventory.rpc"
        let service = try await ServiceHarness(environment: [
            "NOTIFY_TOPOLOGY_INVENTORY_RPC_QUEUE": queue, "NOTIFY_INVENTORY_RECONCILE_INTERVAL_SECONDS": "1",
            "NOTIFY_INVENTORY_RECONCILE_PAGE_SIZE": "2",
        ])
        defer { Task { await service.shutDown() } }
        let outQueue = try await InventoryFlowTests.outOfStockQueue(service)
        // Known out of stock already (an adjustment seen before): must not be raised again.
        try await service.publish(
            [InventoryFlowTests.adjustment("k1", product: "known", new: 0, adjusted: -2, second: 0)],
            routingKey: "inventory.adjusted")
        _ = try await InventoryFlowTests.drain(outQueue, service, expected: 1)
        let responder = try await InventoryResponder(
            service: service, queue: queue,
            items: [
                ["productId": "known", "quantity": "0"],
                ["productId": "lost-1", "quantity": "0", "location": "wh-9", "name": "Lost one"],
                ["productId": "lost-2", "quantity": "-1"],
            ], answers: true)
        // Several rounds (every second), two pages each.
        try await Task.sleep(for: .seconds(4))
        #expect(responder.count >= 4)
        let filters = responder.first?["filters"] as? [String: Any]
        #expect(filters?["inStock"] as? Bool == false)
        let events = try await InventoryFlowTests.drain(outQueue, service, expected: 2)
        let products = events.compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.body)) as? [String: Any])?["product_id"] as? String
        }
        #expect(products.sorted() == ["lost-1", "lost-2"])
        #expect(events.allSatisfy { $0.properties.correlationID?.hasPrefix("reconciliation-") == true })
        await responder.close()
    }

    @Test("an inventory service that never answers is logged and retried; everything else carries on")
    func silentInventoryService() async throws {
        let id = UUID().uuidString.prefix(8).lowercased()
        let queue = "test.\(id).inventory.rpc"
        let service = try await ServiceHarness(environment: [
            "NOTIFY_TOPOLOGY_INVENTORY_RPC_QUEUE": queue, "NOTIFY_INVENTORY_RECONCILE_INTERVAL_SECONDS": "1",
            "NOTIFY_INVENTORY_RPC_TIMEOUT_MILLISECONDS": "300",
        ])
        defer { Task { await service.shutDown() } }
        let responder = try await InventoryResponder(service: service, queue: queue, items: [], answers: false)
        try await Task.sleep(for: .seconds(3))
        #expect(responder.count >= 2, "a new request every round")
        #expect(service.daemon.log.contains("did not answer GetInventoryList"))
        try await service.publish([Payments.confirmed(user: "still-working", index: 1)])
        #expect(try await service.waitForStored(1) == 1)
        let reply = try await service.call("GetUserNotifications", ["userId": "still-working"])
        #expect(reply.status == 200)
        await responder.close()
    }
}
