import AMQP
import Foundation
import StackSupport
import Testing

/// What a hostile or broken publisher can send, against a real daemon: nothing stops ingestion, nothing is lost.
@Suite("A hostile publisher cannot stop ingestion", .needsStack)
struct HostileInputTests {
    static func payment(
        _ id: String, user: String = "hostile-user", amount: String = "10.5",
        timestamp: String = "2026-11-21T10:00:00Z", orderID: String = "order"
    ) -> [UInt8] {
        Array(
            """
            {"transactionId":"\(id)","userId":"\(user)","orderId":"\(orderID)","amount":\(amount),"currency":"USD",\
            "status":"confirmed","timestamp":"\(timestamp)"}
            """.utf8)
    }

    @Test("an amount past the bound and a far-future timestamp are parked with their reasons; the rest is stored and queries answer")
    func boundsAreParked() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        var bodies = (0..<100).map { Payments.confirmed(user: "bounded", index: $0) }
        bodies.insert(Self.payment("huge", amount: "92233720368547758070"), at: 30)
        bodies.insert(Self.payment("future", timestamp: "9999-12-31T23:59:59Z"), at: 60)
        try await service.publish(bodies)
        #expect(try await service.waitForStored(100) == 100)
        let parked = try await service.drainParked(expected: 2)
        let reasons = Dictionary(
            uniqueKeysWithValues: parked.map { (String(decoding: $0.body, as: UTF8.self).contains("future") ? "future" : "huge", $0) })
        #expect(reasons["huge"].flatMap(ServiceHarness.reason) == "schema")
        #expect(reasons["huge"]?.properties.headers["x-dead-letter-detail"] == .string("field 'amount' must be at most 1000000000000"))
        #expect(reasons["future"].flatMap(ServiceHarness.reason) == "future-timestamp")
        #expect(try await service.call("GetUserNotifications", ["userId": "bounded"]).status == 200)
        #expect(service.daemon.process.isRunning)
    }

    @Test("an adjustment dated in year 9999 is parked and cannot freeze the product's stock")
    func farFutureAdjustment() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let queue = try await InventoryFlowTests.outOfStockQueue(service)
        try await service.publish(
            [InventoryFlowTests.adjustment("a-1", product: "frozen", new: 3, adjusted: 3, second: 1)],
            messageIDs: ["a-1"], routingKey: "inventory.adjusted")
        let future = Array(
            #"{"event_id":"a-2","timestamp":"9999-12-31T23:59:59Z","product_id":"frozen","adjusted_quantity":7,"new_quantity":10}"#.utf8)
        try await service.publish([future], messageIDs: ["a-2"], routingKey: "inventory.adjusted")
        try await service.publish(
            [InventoryFlowTests.adjustment("a-3", product: "frozen", new: 0, adjusted: -3, second: 3)],
            messageIDs: ["a-3"], routingKey: "inventory.adjusted")
        let published = try await InventoryFlowTests.drain(queue, service, expected: 1)
        #expect(published.count == 1, "the real stock-out must be announced")
        #expect(published.first?.properties.correlationID == "a-3")
        let parked = try await service.drainParked(expected: 1)
        #expect(parked.map(ServiceHarness.reason) == ["future-timestamp"])
        #expect(try await InventoryFlowTests.level(service, "frozen")?.0 == 0)
    }

    @Test("a poison event that crashes the daemon is parked as poison after a few crashes; the events around it are stored, not parked")
    func crashIsolation() async throws {
        // The fault is compiled into debug builds only (FaultInjection); the supervisor restarts the daemon as
        // systemd's Restart=on-failure would. Without Swift's backtracer: a crashed debug build spends tens of seconds
        // symbolicating on a busy machine while its connection (and so the redelivery) stays open.
        let service = try await ServiceHarness(environment: ["NOTIFYD_FAULT_CRASH_ON": "crash-me-now", "SWIFT_BACKTRACE": "enable=no"])
        defer { Task { await service.shutDown() } }
        var bodies = (0..<300).map { Payments.confirmed(user: "neighbour", index: $0) }
        let poison = Self.payment("poison", orderID: "crash-me-now")
        bodies.insert(poison, at: 150)
        try await service.publish(bodies)
        let settled = try await service.supervise(timeout: .seconds(120)) {
            let (stored, parked) = (try await service.storedCount(), try await service.parkedCount())
            return stored == 300 && parked >= 1
        }
        let stored = try await service.storedCount()
        #expect(settled, "stored \(stored), log: \(service.daemon.log.suffix(2000))")
        #expect(service.restarts >= 1 && service.restarts <= 3, "restarts: \(service.restarts)")
        let parked = try await service.drainParked(expected: 1)
        #expect(parked.count == 1)
        #expect(parked.first.flatMap(ServiceHarness.reason) == "poison")
        #expect(parked.first?.body == poison)
        try await Task.sleep(for: .seconds(1))
        #expect(try await service.storedCount() == 300)
        #expect(try await service.parkedCount() == 0, "no neighbour may be parked")
        // Still consuming and answering after the storm.
        try await service.publish([Payments.confirmed(user: "after", index: 1)])
        #expect(try await service.waitForStored(301) == 301)
        #expect(try await service.call("GetUserNotifications", ["userId": "after"]).status == 200)
    }

    @Test("a 5 MiB event is parked too-large with its whole body while notifyd stays under 100 MB")
    func largeEvent() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let large = Array(("{\"pad\":\"" + String(repeating: "x", count: 5 * 1024 * 1024) + "\"}").utf8)
        try await service.publish([large] + (0..<50).map { Payments.confirmed(user: "beside-large", index: $0) })
        #expect(try await service.waitForStored(50) == 50)
        let parked = try await service.drainParked(expected: 1)
        #expect(parked.first.flatMap(ServiceHarness.reason) == "too-large")
        #expect(parked.first?.body == large)
        let peak = try #require(service.daemon.peakResidentBytes)
        #expect(peak < 100 * 1024 * 1024, "peak RSS \(peak / 1024 / 1024) MB")
    }

    @Test("past the oversized budget an event is not read at all: the broker dead-letters it unread, body intact")
    func overBudget() async throws {
        let service = try await ServiceHarness(environment: ["NOTIFY_INGESTION_OVERSIZED_BUDGET_BYTES": "0"])
        defer { Task { await service.shutDown() } }
        let large = Array(("{\"pad\":\"" + String(repeating: "y", count: 1024 * 1024) + "\"}").utf8)
        try await service.publish([large, Payments.confirmed(user: "beside-unread", index: 1)])
        #expect(try await service.waitForStored(1) == 1)
        let parked = try await service.drainParked(expected: 1)
        #expect(parked.first?.body == large)
        guard case .array(let deaths)? = parked.first?.properties.headers["x-death"],
            case .table(let death)? = deaths.first
        else {
            Issue.record("no x-death header")
            return
        }
        #expect(death["reason"] == .string("rejected"))
    }

    @Test("an RPC request over 16 KiB is answered 400 naming its size, without being read")
    func largeRequest() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let reply = try await service.call("GetUserNotifications", ["userId": String(repeating: "u", count: 20_000)])
        #expect(reply.status == 400)
        let message = (reply.body["error"] as? [String: Any])?["message"] as? String
        #expect(message?.contains("the limit for GetUserNotifications is 16384") == true, "\(message ?? "-")")
    }

    @Test("with the dead-letter queue deleted while running, a bad event is not lost: it is parked once the queue is declared again")
    func deadLetterQueueDeleted() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        try await service.client.deleteQueue(service.deadLetterQueue)
        let bad = Array(#"{"not":"a payment"}"#.utf8)
        try await service.publish([bad] + (0..<10).map { Payments.confirmed(user: "dlq-gone", index: $0) })
        #expect(try await service.waitForStored(10) == 10)
        #expect(await service.waitForParked(1) == 1)
        let parked = try await service.drainParked(expected: 1)
        #expect(parked.count == 1)
        #expect(parked.first?.body == bad)
        #expect(parked.first.flatMap(ServiceHarness.reason) == "schema")
        #expect(service.daemon.log.contains("declaring the dead-letter queue again"))
    }

    @Test("two events whose message_id is not UTF-8 are both parked as invalid-property, never taken for duplicates")
    func nonUTF8MessageIDs() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        // Swift strings cannot hold invalid UTF-8, so these go out through pika, which sends bytes as given. Both
        // ids decode lossily to the same text: before this was caught the second event was acked as a duplicate.
        let script = """
            import pika, sys
            connection = pika.BlockingConnection(pika.URLParameters(sys.argv[1]))
            channel = connection.channel()
            channel.confirm_delivery()
            for index, message_id in enumerate([b"\\xff\\xfe-id", b"\\xff\\xfd-id"]):
                body = ('{"transactionId":"t-%d","userId":"bytes-user","orderId":"o","amount":1,"status":"confirmed",'
                        '"timestamp":"2026-11-21T10:00:00Z"}' % index).encode()
                channel.basic_publish(sys.argv[2], "payment.processed", body,
                                      pika.BasicProperties(message_id=message_id, delivery_mode=2))
            connection.close()
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, DaemonProcess.stackEnvironment["NOTIFY_AMQP_URL"]!, service.exchange]
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "pika publisher failed (make test installs pika)")
        #expect(await service.waitForParked(2) == 2)
        let parked = try await service.drainParked(expected: 2)
        #expect(parked.map(ServiceHarness.reason) == ["invalid-property", "invalid-property"])
        #expect(parked.allSatisfy { $0.properties.headers["x-dead-letter-detail"] == .string("property 'message_id' is not valid UTF-8") })
        #expect(try await service.storedCount() == 0)
    }
}
