import AMQP
import Foundation
import Testing

@Suite("PaymentProcessed → in-app notification → inbox over RPC", .needsStack)
struct PaymentFlowTests {
    @Test("the catalog's example gives exactly one notification, and replies validate against the catalog schemas")
    func catalogExample() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        try await service.publish([Payments.catalogExample])
        #expect(try await service.waitForStored(1) == 1)

        let user = "123e4567-e89b-12d3-a456-426614174000"
        let list = try await service.call("GetUserNotifications", ["userId": user])
        #expect(list.status == 200)
        #expect(try SchemaValidator(named: "GetUserNotifications").violations(of: list.raw) == [])
        let notifications = try #require(list.body["notifications"] as? [[String: Any]])
        #expect(notifications.count == 1)
        #expect(notifications.first?["title"] as? String == "Payment received")
        #expect((notifications.first?["message"] as? String)?.contains("$100.50") == true)
        #expect(list.headers["x-total-count"] == .int(1))
        #expect(list.headers["x-unread-count"] == .int(1))

        let id = try #require(notifications.first?["notificationId"] as? String)
        let details = try await service.call("GetNotificationDetails", ["notificationId": id, "userId": user])
        #expect(details.status == 200)
        #expect(try SchemaValidator(named: "GetNotificationDetails").violations(of: details.raw) == [])
        #expect(details.body["type"] as? String == "payment")
        #expect((details.body["metadata"] as? [String: String]) == ["orderId": "789e1234-b56c-78d9-e012-3456789fghij"])
    }

    @Test("the same event three times (redelivered or republished) gives one notification")
    func duplicates() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let event = Payments.confirmed(user: "dup-user", index: 1)
        try await service.publish([event, event, event], messageIDs: ["m-1", "m-1", "m-1"])
        // Without message_id the transactionId is the key: the same transaction again is a duplicate too.
        try await service.publish([event, event], messageIDs: [nil, nil])
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await service.waitForStored(2, timeout: .seconds(3)) == 2)
        let list = try await service.call("GetUserNotifications", ["userId": "dup-user"])
        #expect(list.headers["x-total-count"] == .int(2))
    }

    @Test("1,000 events with 50 bad ones interleaved: 950 notifications, 50 parked with the right reasons")
    func badEventsAreParked() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let bad: [(body: [UInt8], reason: String)] = [
            (Array("not json at all".utf8), "invalid-json"),
            ([0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x7D], "invalid-utf8"),
            (
                Array(
                    #"{"transactionId":"t","userId":"u","orderId":"o","amount":"12","status":"confirmed","timestamp":"2026-01-01T00:00:00Z"}"#
                        .utf8), "schema"
            ),
            (
                Array(#"{"transactionId":"t","orderId":"o","amount":1,"status":"confirmed","timestamp":"2026-01-01T00:00:00Z"}"#.utf8),
                "schema"
            ),
            (Array(String(repeating: "[", count: 200).utf8) + Array(String(repeating: "]", count: 200).utf8), "too-deep"),
            (Array("{\"pad\":\"\(String(repeating: "x", count: 300_000))\"}".utf8), "too-large"),
        ]
        var bodies: [[UInt8]] = []
        var expectedReasons: [String: Int] = [:]
        var good = 0
        for index in 0..<1000 {
            if index % 20 == 7 {
                let sample = bad[(index / 20) % bad.count]
                bodies.append(sample.body)
                expectedReasons[sample.reason, default: 0] += 1
            } else {
                bodies.append(Payments.confirmed(user: "user-\(index % 10)", index: index))
                good += 1
            }
        }
        #expect(good == 950)
        try await service.publish(bodies)
        // An unknown routing key: published straight to the queue through the default exchange.
        try await service.publish([Payments.confirmed(user: "x", index: 0)], routingKey: service.eventsQueue, exchange: "")
        expectedReasons["unknown-routing-key", default: 0] += 1

        #expect(try await service.waitForStored(950) == 950)
        let parked = try await service.drainParked(expected: 51)
        #expect(parked.count == 51)
        var reasons: [String: Int] = [:]
        for message in parked {
            guard case .string(let reason)? = message.properties.headers["x-dead-letter-reason"] else {
                Issue.record("parked message without a reason")
                continue
            }
            reasons[reason, default: 0] += 1
            guard case .string(let detail)? = message.properties.headers["x-dead-letter-detail"] else {
                Issue.record("parked message without a detail")
                continue
            }
            #expect(!detail.isEmpty)
        }
        #expect(reasons == expectedReasons)
        // Parked copies keep the original body: nothing is lost.
        #expect(parked.contains { $0.body == Array("not json at all".utf8) })
        #expect(try await service.storedCount() == 950)
        let status = try await service.client.queueStatus(service.eventsQueue)
        #expect(status.messageCount == 0)
    }

    @Test("SIGKILL in the middle of 20,000 events, then a restart: exactly 20,000 notifications")
    func crashMidStream() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let total = 20_000
        let bodies = (0..<total).map { Payments.confirmed(user: "crash-\($0 % 100)", index: $0) }
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await service.publish(bodies) }
            group.addTask {
                while try await service.storedCount() < 3_000 { try await Task.sleep(for: .milliseconds(20)) }
                service.daemon.signal(SIGKILL)
            }
            try await group.waitForAll()
        }
        #expect(await service.daemon.waitForExit(timeout: .seconds(5)) != nil)
        let atCrash = try await service.storedCount()
        #expect(atCrash < total, "the kill should land mid-stream")
        try await service.restartDaemon()
        #expect(try await service.waitForStored(total, timeout: .seconds(120)) == total)
        try await Task.sleep(for: .milliseconds(500))
        #expect(try await service.storedCount() == total)
        let status = try await service.client.queueStatus(service.eventsQueue)
        #expect(status.messageCount == 0)
    }
}

@Suite("Inbox queries over RPC", .needsStack)
struct InboxQueryTests {
    @Test("unread/all filters, pagination, idempotent mark-read, other users get 404, bad requests get 400")
    func queries() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        try await service.publish((0..<5).map { Payments.confirmed(user: "alice", index: $0) })
        try await service.publish([Payments.confirmed(user: "bob", index: 99)])
        #expect(try await service.waitForStored(6) == 6)

        let all = try await service.call("GetUserNotifications", ["userId": "alice", "limit": 100])
        let ids = (all.body["notifications"] as? [[String: Any]] ?? []).compactMap { $0["notificationId"] as? String }
        #expect(ids.count == 5)
        let times = (all.body["notifications"] as? [[String: Any]] ?? []).compactMap { $0["createdAt"] as? String }
        #expect(times == times.sorted(by: >), "newest first")

        let page1 = try await service.call("GetUserNotifications", ["userId": "alice", "limit": 2, "offset": 0])
        let page3 = try await service.call("GetUserNotifications", ["userId": "alice", "limit": 2, "offset": 4])
        #expect((page1.body["notifications"] as? [[String: Any]])?.compactMap { $0["notificationId"] as? String } == Array(ids[0..<2]))
        #expect((page3.body["notifications"] as? [[String: Any]])?.compactMap { $0["notificationId"] as? String } == [ids[4]])
        #expect(page3.headers["x-total-count"] == .int(5))

        let first = try await service.call("MarkNotificationRead", ["notificationId": ids[1], "userId": "alice"])
        let again = try await service.call("MarkNotificationRead", ["notificationId": ids[1], "userId": "alice"])
        #expect(first.status == 200 && again.status == 200)
        #expect(again.body as NSDictionary == ["notificationId": ids[1], "status": "read"] as NSDictionary)
        let unread = try await service.call("GetUserNotifications", ["userId": "alice", "status": "unread"])
        let unreadIDs = (unread.body["notifications"] as? [[String: Any]] ?? []).compactMap { $0["notificationId"] as? String }
        #expect(unreadIDs == ids.filter { $0 != ids[1] })
        #expect(unread.headers["x-unread-count"] == .int(4))
        #expect(unread.headers["x-total-count"] == .int(5))
        #expect(try SchemaValidator(named: "GetUserNotifications").violations(of: unread.raw) == [])

        let foreign = try await service.call("GetNotificationDetails", ["notificationId": ids[0], "userId": "bob"])
        #expect(foreign.status == 404)
        let foreignRead = try await service.call("MarkNotificationRead", ["notificationId": ids[0], "userId": "bob"])
        #expect(foreignRead.status == 404)
        let unknown = try await service.call("GetNotificationDetails", ["notificationId": UUID().uuidString])
        #expect(unknown.status == 404)
        let notUUID = try await service.call("GetNotificationDetails", ["notificationId": "not-a-uuid"])
        #expect(notUUID.status == 404)

        let badLimit = try await service.call("GetUserNotifications", ["userId": "alice", "limit": 500])
        #expect(badLimit.status == 400)
        #expect(((badLimit.body["error"] as? [String: Any])?["message"] as? String)?.contains("'limit'") == true)
        let missing = try await service.call("GetNotificationDetails", [:])
        #expect(missing.status == 400)
        let unknownType = try await service.call("DropAllTables", [:])
        #expect(unknownType.status == 400)
    }
}
