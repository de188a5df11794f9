import Foundation
import Testing

@Suite("The recipient directory over RPC", .needsStack)
struct RecipientDirectoryTests {
    @Test("register, read, change one field, erase: what a client sees on the wire")
    func lifecycle() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }

        let created = try await service.call(
            "UpsertRecipient",
            [
                "userId": "u-1", "email": "Ana.Lopez@Bücher.Example", "phone": "+49 151 1234 5678", "locale": "de-DE",
                "timezone": "Europe/Berlin",
                "pushTokens": [["platform": "apns", "token": "a1b2c3"], ["platform": "fcm", "token": "f-1"]],
            ])
        #expect(created.status == 200)
        #expect(created.body["email"] as? String == "Ana.Lopez@bücher.example")
        #expect(created.body["phone"] as? String == "+4915112345678")
        #expect((created.body["pushTokens"] as? [[String: String]])?.count == 2)
        #expect(RFC3339Check.isTimestamp(created.body["updatedAt"]))

        let read = try await service.call("GetRecipient", ["userId": "u-1"])
        #expect(read.status == 200)
        #expect(NSDictionary(dictionary: read.body) == NSDictionary(dictionary: created.body))

        let changed = try await service.call("UpsertRecipient", ["userId": "u-1", "phone": NSNull()])
        #expect(changed.body["phone"] is NSNull)
        #expect(changed.body["email"] as? String == "Ana.Lopez@bücher.example", "a field left out keeps its value")

        let bad = try await service.call("UpsertRecipient", ["userId": "u-1", "email": "not an address"])
        #expect(bad.status == 400)
        #expect(
            (bad.body["error"] as? [String: Any])?["message"] as? String ?? ""
                == "field 'email' is not a valid email address: it must contain exactly one '@'")
        #expect(
            try await service.call("GetRecipient", ["userId": "u-1"]).body["email"] as? String == "Ana.Lopez@bücher.example",
            "a refused update changes nothing")

        let erased = try await service.call("DeleteRecipient", ["userId": "u-1"])
        #expect(erased.status == 200 && erased.body["deleted"] as? Bool == true)
        #expect(try await service.call("GetRecipient", ["userId": "u-1"]).status == 404)
        #expect(try await service.call("DeleteRecipient", ["userId": "u-1"]).body["deleted"] as? Bool == false)
        let rows = try await service.db.withConnection {
            try $0.query("SELECT count(*) FROM recipients WHERE user_id = 'u-1'")[0].decode(0, as: Int.self)
        }
        #expect(rows == 0, "erasure leaves no row")
    }

    @Test("concurrent updates of different fields of a new user all take effect")
    func concurrentUpdates() async throws {
        let service = try await ServiceHarness()
        defer { Task { await service.shutDown() } }
        let updates: [[String: Any]] = [
            ["email": "a@example.com"], ["phone": "+14155550100"], ["locale": "en-US"], ["timezone": "America/New_York"],
            ["pushTokens": [["platform": "fcm", "token": "t"]]],
        ]
        for round in 0..<5 {
            let user = "concurrent-\(round)"
            let bodies = try updates.map { try JSONSerialization.data(withJSONObject: $0.merging(["userId": user]) { $1 }) }
            try await withThrowingTaskGroup(of: Int64.self) { group in
                for body in bodies {
                    group.addTask {
                        let update = try JSONSerialization.jsonObject(with: body) as? [String: Any] ?? [:]
                        return try await service.call("UpsertRecipient", update).status
                    }
                }
                for try await status in group { #expect(status == 200) }
            }
            let entry = try await service.call("GetRecipient", ["userId": user]).body
            #expect(entry["email"] as? String == "a@example.com" && entry["phone"] as? String == "+14155550100")
            #expect(entry["locale"] as? String == "en-US" && entry["timezone"] as? String == "America/New_York")
            #expect((entry["pushTokens"] as? [Any])?.count == 1)
        }
    }
}

enum RFC3339Check {
    static func isTimestamp(_ value: Any?) -> Bool {
        guard let text = value as? String else { return false }
        return text.count == 27 && text.hasSuffix("Z") && text.dropFirst(10).first == "T"
    }
}
