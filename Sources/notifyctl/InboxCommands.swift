import AMQP
import ArgumentParser
import Foundation
import NotifyCore

/// Who is running notifyctl, for the daemon's log of operations that change things (redrive, purge).
let actor = "notifyctl:" + (ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown")

/// Sends one RPC request to the daemon, as any client would, with the configured API key, and returns the 2xx
/// reply's JSON object and headers. Any other reply becomes an error quoting the daemon's status and message.
func callDaemon<Request: CommandRequest>(_ options: ConnectionOptions, _ request: Request) async throws
    -> (body: [String: Any], headers: [String: AMQPFieldValue])
{
    var headers: [String: AMQPFieldValue] = ["x-actor": .string(actor)]
    if let key = try options.apiKey() { headers[RPCEnvelope.apiKeyHeader] = .string(key) }
    let connection = try await options.connect()
    let client = try await AMQPRPCClient(connection: connection)
    let reply: AMQPDelivery
    do {
        reply = try await client.call(
            queue: options.rpcQueue, type: Request.command.rawValue, body: request.body.bytes,
            headers: headers, timeout: options.replyTimeout)
    } catch  where error.code == .timeout {
        await connection.close()
        throw CLIError("the notification service did not answer within \(options.timeout) s; is notifyd running? (see 'notifyctl status')")
    } catch {
        await connection.close()
        throw CLIError("could not send the request: \(error.reason)")
    }
    await connection.close()
    let body: [UInt8]
    do {
        body = try RPCEnvelope.body(status: reply.properties.headers[RPCEnvelope.statusHeader]?.integer, body: reply.body)
    } catch {
        throw CLIError("\(error.status): \(error.message)")
    }
    let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    return (object, reply.properties.headers)
}

func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    print(String(decoding: data, as: UTF8.self))
}

struct Inbox: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a user's notifications, newest first.")

    @Argument(help: "The user id.") var user: String
    @Flag(help: "Only unread notifications.") var unread = false
    @Option(help: "Page size, 1 to 100.") var limit = 20
    @Option(help: "Notifications to skip.") var offset = 0
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        let reply = try await callDaemon(
            options, GetUserNotifications(userID: user, unreadOnly: unread, limit: limit, offset: offset))
        if options.json { return try printJSON(reply.body) }
        let notifications = reply.body["notifications"] as? [[String: Any]] ?? []
        let rows = notifications.map { item in
            ["\(item["notificationId"] ?? "")", "\(item["status"] ?? "")", "\(item["createdAt"] ?? "")", "\(item["title"] ?? "")"]
        }
        print(Table(header: ["ID", "STATUS", "CREATED", "TITLE"], rows: rows).rendered)
        func count(_ header: String) -> String {
            if case .int(let value)? = reply.headers[header] { return String(value) }
            return "?"
        }
        print("\(notifications.count) shown; \(count("x-total-count")) in total, \(count("x-unread-count")) unread")
    }
}

struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one notification in full.")

    @Argument(help: "The notification id.") var id: String
    @Option(help: "Only if it belongs to this user.") var user: String?
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        let reply = try await callDaemon(options, GetNotificationDetails(notificationID: id, userID: user))
        if options.json { return try printJSON(reply.body) }
        let metadata = (reply.body["metadata"] as? [String: Any])?.map { "\($0.key)=\($0.value)" }.sorted().joined(separator: " ")
        for key in ["notificationId", "userId", "type", "status", "createdAt", "title", "message"] {
            print("\(key.padding(toLength: 16, withPad: " ", startingAt: 0))\(reply.body[key] ?? "")")
        }
        print("\("metadata".padding(toLength: 16, withPad: " ", startingAt: 0))\(metadata ?? "")")
    }
}

struct Read: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Mark a notification read (idempotent).")

    @Argument(help: "The notification id.") var id: String
    @Option(help: "The user it belongs to.") var user: String
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        let reply = try await callDaemon(options, MarkNotificationRead(notificationID: id, userID: user))
        if options.json { return try printJSON(reply.body) }
        print("\(id) is read")
    }
}

struct Inventory: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the stock the daemon knows: one product (in every warehouse), or the first products.")

    @Argument(help: "A product id; all products when omitted.") var product: String?
    @Option(help: "Rows at most, 1 to 500.") var limit = 100
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        let reply = try await callDaemon(options, GetStockLevels(productID: product, limit: limit))
        if options.json { return try printJSON(reply.body) }
        let items = reply.body["items"] as? [[String: Any]] ?? []
        if items.isEmpty, let product {
            throw CLIError("the service has no stock record for '\(product)'")
        }
        let rows = items.map { item in
            [
                "\(item["productId"] ?? "")", "\(item["warehouseId"] as? String ?? "")", "\(item["quantity"] ?? "")",
                (item["outOfStock"] as? Bool) == true ? "out of stock" : "in stock", "\(item["asOf"] ?? "")",
            ]
        }
        print(Table(header: ["PRODUCT", "WAREHOUSE", "QUANTITY", "STATE", "AS OF"], rows: rows).rendered)
    }
}

struct Publish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Publish an event to flowmart.events, as its producer would, for trying the service by hand.")

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case paymentProcessed = "payment-processed"
        case inventoryAdjusted = "inventory-adjusted"
        var event: EventKind {
            switch self {
            case .paymentProcessed: .paymentProcessed
            case .inventoryAdjusted: .inventoryAdjusted
            }
        }
    }

    @Argument(help: "The event kind: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")).") var kind: Kind
    @Option(help: "JSON file with the event body.") var file: String
    @Option(help: "message_id property (default: a new UUID).") var messageId: String?
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        guard let body = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read '\(file)'") }
        let connection = try await options.connect(confirmMode: true)
        let id = messageId ?? UUID().uuidString
        var properties = AMQPProperties(
            contentType: "application/json", headers: ["version": kind == .paymentProcessed ? "1.0.0" : "1.0.1"],
            persistent: true, messageID: id,
            timestamp: UInt64(Date().timeIntervalSince1970), type: kind.event.rawValue)
        properties.appID = "notifyctl"
        let outcomes = try await connection.publish([
            AMQPOutgoingMessage(
                exchange: ContractNames().eventsExchange, routingKey: kind.event.routingKey,
                body: Array(body), properties: properties)
        ])
        await connection.close()
        guard outcomes == [.confirmed] else { throw CLIError("the broker did not confirm the event") }
        if options.json { return try printJSON(["messageId": id, "routingKey": kind.event.routingKey]) }
        print("published \(kind.event.rawValue) \(id)")
    }
}
