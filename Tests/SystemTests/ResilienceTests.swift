import AMQP
import Foundation
import StackSupport
import Testing

@Suite("Ingestion and queries under stress", .needsStack)
struct ResilienceTests {
    @Test("an event the database refuses is parked as delivery-failed; the rest of its batch is stored")
    func poisonInBatch() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        // Valid JSON and a valid id, but PostgreSQL text cannot hold a NUL character.
        let poison = Array(
            #"{"transactionId":"t-nul","userId":"bad\u0000user","orderId":"o","amount":1,"status":"confirmed","timestamp":"2026-11-21T10:00:00Z"}"#
                .utf8)
        var bodies = (0..<200).map { Payments.confirmed(user: "batch-user", index: $0) }
        bodies.insert(poison, at: 100)
        try await service.publish(bodies)
        #expect(try await service.waitForStored(200) == 200)
        let parked = try await service.drainParked(expected: 1)
        #expect(parked.count == 1)
        #expect(parked.first?.properties.headers["x-dead-letter-reason"] == .string("delivery-failed"))
        #expect(parked.first?.body == poison)
    }

    @Test("queries keep being answered quickly during a burst of 20,000 events")
    func queriesDuringBurst() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        try await service.publish([Payments.confirmed(user: "reader", index: 0)])
        #expect(try await service.waitForStored(1) == 1)
        let bodies = (1...20_000).map { Payments.confirmed(user: "burst-\($0 % 50)", index: $0) }
        let slowest = try await withThrowingTaskGroup(of: Duration.self) { group in
            group.addTask {
                try await service.publish(bodies)
                return .zero
            }
            group.addTask {
                var slowest = Duration.zero
                let deadline = ContinuousClock.now + .seconds(3)
                while ContinuousClock.now < deadline {
                    let started = ContinuousClock.now
                    let reply = try await service.call("GetUserNotifications", ["userId": "reader"])
                    #expect(reply.status == 200)
                    slowest = max(slowest, ContinuousClock.now - started)
                }
                return slowest
            }
            return try await group.reduce(Duration.zero) { max($0, $1) }
        }
        #expect(slowest < .milliseconds(500), "slowest query during the burst took \(slowest)")
        #expect(try await service.waitForStored(20_001, timeout: .seconds(120)) == 20_001)
    }
}

@Suite("Templates at start-up", .needsStack)
struct TemplateStartupTests {
    @Test("a template naming a field the event lacks stops the start, naming the file")
    func brokenTemplate() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("templates-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        for name in ["payment-received", "payment-failed"] {
            try "Title".write(to: directory.appendingPathComponent("\(name).title.mustache"), atomically: true, encoding: .utf8)
            try "Hi {{orderId}}".write(to: directory.appendingPathComponent("\(name).message.mustache"), atomically: true, encoding: .utf8)
            for part in ["subject", "text", "html"] {
                try "Order {{orderId}}".write(
                    to: directory.appendingPathComponent("\(name).email.\(part).mustache"), atomically: true, encoding: .utf8)
            }
        }
        try "Hi {{customerNmae}}".write(
            to: directory.appendingPathComponent("payment-failed.message.mustache"), atomically: true, encoding: .utf8)
        let daemon = try DaemonProcess(environment: ["NOTIFY_TEMPLATES_DIRECTORY": directory.path])
        let status = await daemon.waitForExit(timeout: .seconds(20))
        #expect(status != nil && status != 0)
        #expect(daemon.log.contains("payment-failed.message.mustache"), "log was: \(daemon.log)")
        #expect(daemon.log.contains("customerNmae"))
        #expect(!daemon.log.contains("ready"))
    }
}
