import Foundation
import NotifyCore
import StackSupport

/// The tenants and keys the security model's cells are tried with, onboarded through the daemon as clients would:
/// product Alpha with organisations One (whose data the requests name), Two, a third whose key is revoked and a
/// fourth deactivated; product Beta (the other tenant); a service key for each service scope. Alpha One has a
/// recipient, a sent notification (in-app and email) with its message and deliveries; Alpha a template.
final class SecurityModelWorld: @unchecked Sendable {
    typealias Kind = SecurityModel.Kind

    /// A command's request as a cell sends it, and the same request naming something that does not exist (nil for a
    /// command that names nothing).
    struct Request {
        var body: [String: Any]
        var unknown: [String: Any]?
    }

    let service: ServiceHarness
    private(set) var keys: [Kind: String] = [:]
    private(set) var productID = ""
    private(set) var organizationID = ""
    private(set) var requestID = ""
    private(set) var notificationID = ""
    private(set) var messageID = ""
    /// What belongs to Alpha and must never reach a stranger's reply: ids, key ids, the recipient's address, the
    /// template's name.
    private(set) var alphas: [String] = []
    private var serial = 0
    static let template = "alpha-welcome"
    static let category = "ORDER_CONFIRMATION"

    init(_ service: ServiceHarness) async throws {
        self.service = service
        let alpha = try await service.call(
            "CreateProduct",
            [
                "product": ["name": "Alpha"],
                "organizations": [["name": "Alpha One"], ["name": "Alpha Two"], ["name": "Alpha Revoked"], ["name": "Alpha Off"]],
            ])
        let product = try Self.object(alpha.body["product"])
        let organizations = try (alpha.body["organizations"] as? [[String: Any]]).orThrow("organizations")
        productID = try Self.string(product["id"])
        organizationID = try Self.string(organizations[0]["id"])
        keys[.admin] = service.slot.adminKey
        keys[.product] = try Self.string(product["apiKey"])
        keys[.organization] = try Self.string(organizations[0]["apiKey"])
        keys[.revoked] = try Self.string(organizations[2]["apiKey"])
        keys[.inactive] = try Self.string(organizations[3]["apiKey"])
        keys[.other] = try Self.string(
            try Self.object(try await service.call("CreateProduct", ["product": ["name": "Beta"]]).body["product"])["apiKey"])
        for (kind, scope) in [
            (Kind.inboxReader, "inbox-read"), (.inboxWriter, "inbox-write"), (.directory, "recipients"), (.tracker, "track"),
        ] {
            keys[kind] = try Self.string(try await service.call("CreateServiceKey", ["name": scope, "scopes": [scope]]).body["apiKey"])
        }
        keys[.malformed] = "fmk_not-a-key"
        try await expect(200, "RevokeApiKey", ["keyId": Self.keyID(try key(.revoked))])
        try await expect(200, "UpdateOrganization", ["id": try Self.string(organizations[3]["id"]), "active": false])

        let address = "alpha-one-\(service.id)@example.com"
        try await expect(200, "UpsertRecipient", ["userId": "u-1", "email": address], as: .organization)
        try await expect(
            201, "PublishTemplate", ["name": Self.template, "template": ["title": "Hi {{name}}", "body": "Welcome, {{name}}."]],
            as: .product)
        let sent = try await service.call(
            "SendNotification",
            [
                "channels": ["in-app", "email"], "messageCategory": Self.category, "recipient": ["userId": "u-1"],
                "content": ["title": "Order 1", "body": "Confirmed"],
            ], as: .key(try key(.organization)))
        requestID = try Self.string(sent.body["requestId"])
        notificationID = try Self.string(sent.body["notificationId"])
        let messages = try await service.call("ListMessages", ["organizationId": organizationID], as: .key(try key(.organization)))
        messageID = try Self.string(((messages.body["messages"] as? [[String: Any]])?.first)?["messageId"])
        alphas =
            [productID, requestID, notificationID, messageID, address, Self.template]
            + organizations.compactMap { $0["id"] as? String }
            + [Kind.product, .organization, .revoked, .inactive].map { Self.keyID(keys[$0]!) }
    }

    /// The key a kind of caller presents (nil: none).
    func key(_ kind: Kind) throws -> String {
        try keys[kind].orThrow("no key for \(kind.rawValue)")
    }

    func credential(_ kind: Kind) throws -> ServiceHarness.Credential { kind == .noKey ? .none : .key(try key(kind)) }

    /// The request every caller sends for `command`: naming Alpha One's data (or Alpha's), or, for a command that
    /// changes what it names, something made for this call alone (a key to rotate, a recipient to delete), so the
    /// cells cannot depend on each other's order.
    func request(_ command: Command) async throws -> Request {
        serial += 1
        let n = serial
        let user = ["userId": "u-1"]
        let notification: [String: Any] = ["notificationId": notificationID, "userId": "u-1"]
        let unknownNotification: [String: Any] = ["notificationId": UUID().uuidString.lowercased(), "userId": "u-1"]
        let content = ["title": "Order \(n)", "body": "Confirmed"]
        switch command {
        case .getUserNotifications: return Request(body: user, unknown: ["userId": "u-nobody"])
        case .getNotificationDetails, .markNotificationRead: return Request(body: notification, unknown: unknownNotification)
        case .watchProduct: return Request(body: ["userId": "u-1", "productId": "p-1"])
        case .getStockLevels, .listParked, .listTemplates: return Request(body: [:])
        case .upsertRecipient: return Request(body: ["userId": "up-\(n)", "locale": "en"])
        case .getRecipient: return Request(body: user, unknown: ["userId": "u-nobody"])
        case .deleteRecipient:
            try await expect(200, "UpsertRecipient", ["userId": "del-\(n)", "locale": "en"], as: .organization)
            return Request(body: ["userId": "del-\(n)"], unknown: ["userId": "del-nobody-\(n)"])
        case .getDeliveryStatus:
            return Request(body: ["notificationId": notificationID], unknown: ["notificationId": UUID().uuidString.lowercased()])
        case .listDeliveries: return Request(body: user, unknown: ["userId": "u-nobody"])
        case .listMessages:
            return Request(body: ["organizationId": organizationID], unknown: ["organizationId": UUID().uuidString.lowercased()])
        case .getMessage: return Request(body: ["messageId": messageID], unknown: ["messageId": UUID().uuidString.lowercased()])
        case .redriveParked, .purgeParked: return Request(body: ["parkedIds": ["999999999"]])
        case .createProduct: return Request(body: ["product": ["name": "New \(n)"]])
        case .createServiceKey: return Request(body: ["name": "service \(n)", "scopes": ["track"]])
        case .createOrganizations:
            let organizations = [["name": "More \(n)"]]
            return Request(
                body: ["productId": productID, "organizations": organizations],
                unknown: ["productId": UUID().uuidString.lowercased(), "organizations": organizations])
        case .getProduct: return Request(body: ["productId": productID], unknown: ["productId": UUID().uuidString.lowercased()])
        case .getOrganization:
            return Request(body: ["organizationId": organizationID], unknown: ["organizationId": UUID().uuidString.lowercased()])
        case .updateProduct:
            return Request(body: ["id": productID, "name": "Alpha"], unknown: ["id": UUID().uuidString.lowercased(), "name": "Alpha"])
        case .updateOrganization:
            return Request(
                body: ["id": organizationID, "name": "Alpha One"], unknown: ["id": UUID().uuidString.lowercased(), "name": "Alpha One"])
        case .rotateAPIKey, .revokeAPIKey:
            let created = try await service.call(
                "CreateOrganizations", ["productId": productID, "organizations": [["name": "Keyed \(n)"]]])
            let key = try Self.string((created.body["organizations"] as? [[String: Any]])?.first?["apiKey"])
            return Request(body: ["keyId": Self.keyID(key)], unknown: ["keyId": APIKey.generate().id])
        case .listAuditEvents:
            return Request(
                body: ["entity": "organization:\(organizationID)"], unknown: ["entity": "organization:\(UUID().uuidString.lowercased())"])
        case .sendNotification:
            return Request(body: [
                "channel": "in-app", "messageCategory": Self.category, "recipient": ["userId": "send-\(n)"], "content": content,
            ])
        case .sendBatch:
            return Request(body: [
                "channel": "in-app", "messageCategory": Self.category, "recipients": [["userId": "batch-\(n)"]], "content": content,
            ])
        case .cancelRequest: return Request(body: ["requestId": requestID], unknown: ["requestId": UUID().uuidString.lowercased()])
        case .publishTemplate: return Request(body: ["name": "published-\(n)", "template": content])
        case .rollbackTemplate:
            for title in ["First", "Second"] {
                try await expect(201, "PublishTemplate", ["name": "rolled-\(n)", "template": ["title": title, "body": "b"]], as: .product)
            }
            return Request(body: ["name": "rolled-\(n)"], unknown: ["name": "rolled-nothing-\(n)"])
        case .getTemplate: return Request(body: ["name": Self.template], unknown: ["name": "no-such-template"])
        case .previewTemplate:
            return Request(
                body: ["name": Self.template, "data": ["name": "Ann"]], unknown: ["name": "no-such-template", "data": ["name": "Ann"]])
        }
    }

    // MARK: - Helpers

    static func keyID(_ key: String) -> String { String(key.dropFirst(4).prefix(16)) }

    /// A setup call that must succeed.
    private func expect(_ status: Int64, _ command: String, _ body: [String: Any], as kind: Kind = .admin) async throws {
        let reply = try await service.call(command, body, as: .key(try key(kind)))
        guard reply.status == status else { throw SupportFailure("setup \(command): \(reply.status) \(reply.raw)") }
    }

    private static func object(_ value: Any?) throws -> [String: Any] {
        try (value as? [String: Any]).orThrow("not an object: \(value ?? "nil")")
    }
    private static func string(_ value: Any?) throws -> String { try (value as? String).orThrow("not a string: \(value ?? "nil")") }
}

extension Optional {
    func orThrow(_ what: @autoclosure () -> String) throws -> Wrapped {
        guard let self else { throw SupportFailure(what()) }
        return self
    }
}
