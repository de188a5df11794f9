import Foundation
import StackSupport
import Testing

@Suite("Deliveries: one per channel, tracked from the start", .needsStack)
struct DeliveryTrackingTests {
    @Test("the catalog's payment: its in-app delivery is delivered by the commit, with its history; unknown ids are 404")
    func inApp() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        try await service.publish([Payments.catalogExample])
        #expect(try await service.waitForStored(1) == 1)
        let id = try await Self.onlyNotification(of: "123e4567-e89b-12d3-a456-426614174000", service)

        let status = try await service.call("GetDeliveryStatus", ["notificationId": id])
        #expect(status.status == 200)
        #expect(status.body["notificationId"] as? String == id)
        let deliveries = try #require(status.body["deliveries"] as? [[String: Any]])
        #expect(deliveries.map { $0["channel"] as? String } == ["in-app", "email"])
        let inApp = try #require(deliveries.first { $0["channel"] as? String == "in-app" })
        #expect(inApp["channel"] as? String == "in-app" && inApp["status"] as? String == "delivered")
        #expect(inApp["attempts"] as? Int == 0 && inApp["lastError"] is NSNull && inApp["providerMessageId"] is NSNull)
        let history = try #require(inApp["history"] as? [[String: Any]])
        #expect(history.map { $0["status"] as? String } == ["delivered"])

        #expect(try await service.call("GetDeliveryStatus", ["notificationId": UUID().uuidString]).status == 404)
        #expect(try await service.call("GetDeliveryStatus", ["notificationId": "not-a-uuid"]).status == 404)
        #expect(try await service.call("GetDeliveryStatus", [:]).status == 400)
    }

    @Test("a rule naming a channel no provider delivers on: that channel is skipped with the reason, in the same commit")
    func noProvider() async throws {
        // The shipped rules send payments by email; without `email.host` no provider delivers on it.
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        #expect(service.daemon.log.contains("no provider delivers on"))
        try await service.publish([Payments.catalogExample])
        #expect(try await service.waitForStored(1) == 1)
        let id = try await Self.onlyNotification(of: "123e4567-e89b-12d3-a456-426614174000", service)
        let deliveries = try #require(
            try await service.call("GetDeliveryStatus", ["notificationId": id]).body["deliveries"] as? [[String: Any]])
        let byChannel = Dictionary(uniqueKeysWithValues: deliveries.map { ($0["channel"] as? String ?? "", $0) })
        #expect(byChannel["in-app"]?["status"] as? String == "delivered")
        #expect(byChannel["email"]?["status"] as? String == "skipped")
        let history = byChannel["email"]?["history"] as? [[String: Any]]
        #expect(history?.first?["detail"] as? String == "no-provider")
    }

    static func onlyNotification(of user: String, _ service: ServiceHarness) async throws -> String {
        let list = try await service.call("GetUserNotifications", ["userId": user])
        let notifications = try #require(list.body["notifications"] as? [[String: Any]])
        return try #require(notifications.first?["notificationId"] as? String)
    }
}
