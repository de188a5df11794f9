import ArgumentParser
import NotifyCore

/// `notifyctl deliveries <notificationId>`: where each channel of one notification stands, and how it got there;
/// `notifyctl deliveries --user U --status S ...`: a page of deliveries, newest first.
struct Deliveries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each channel of a notification (status, attempts, provider id, last error, history), or list deliveries.")

    @Argument(help: "The notification id; without it, deliveries are listed.") var id: String?
    @Option(help: "List: only this user's.") var user: String?
    @Option(help: "List: only this channel (email, sms, push).") var channel: NotificationChannel?
    @Option(help: "List: only this status (queued, sending, sent, failed, dead, skipped, ...).") var status: DeliveryStatus?
    @Option(help: "List: only those created at or after this RFC 3339 time.") var since: String?
    @Option(help: "List: at most this many, 1 to 100.") var limit = 20
    @Option(help: "List: the cursor a previous page printed.") var cursor: String?
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        guard let id else { return try await list() }
        let reply = try await callDaemon(options, GetDeliveryStatus(notificationID: id))
        if options.json { return try printJSON(reply.body) }
        let deliveries = reply.body["deliveries"] as? [[String: Any]] ?? []
        print(
            Table(
                header: ["CHANNEL", "STATUS", "ATTEMPTS", "PROVIDER ID", "LAST ERROR", "UPDATED"],
                rows: deliveries.map { delivery in
                    let error = delivery["lastError"] as? [String: Any]
                    return [
                        "\(delivery["channel"] ?? "")", "\(delivery["status"] ?? "")", "\(delivery["attempts"] ?? 0)",
                        delivery["providerMessageId"] as? String ?? "-",
                        error.map { "\($0["class"] as? String ?? "?") \($0["code"] as? String ?? "")" } ?? "-",
                        "\(delivery["updatedAt"] ?? "")",
                    ]
                }
            ).rendered)
        for delivery in deliveries {
            for entry in delivery["history"] as? [[String: Any]] ?? [] {
                let error = entry["error"] as? [String: Any]
                let detail = [error?["class"], error?["code"], error?["message"] ?? entry["detail"]].compactMap { $0 as? String }.joined(
                    separator: " ")
                print(
                    "  \(delivery["channel"] ?? "")  \(entry["at"] ?? "")  \(entry["status"] ?? "")  attempt \(entry["attempt"] ?? 0)\(detail.isEmpty ? "" : "  \(detail)")"
                )
            }
        }
    }

    private func list() async throws {
        var request = ListDeliveries(userID: user, channel: channel, status: status, since: since, limit: limit)
        if let cursor {
            guard let parsed = try? ListDeliveries(body: Array(#"{"cursor":"\#(cursor)"}"#.utf8)).cursor else {
                throw ValidationError("--cursor takes the cursor a previous page printed")
            }
            request.cursor = parsed
        }
        let reply = try await callDaemon(options, request)
        if options.json { return try printJSON(reply.body) }
        let deliveries = reply.body["deliveries"] as? [[String: Any]] ?? []
        print(
            Table(
                header: ["DELIVERY", "NOTIFICATION", "USER", "CHANNEL", "STATUS", "ATTEMPTS", "LAST ERROR", "CREATED"],
                rows: deliveries.map { delivery in
                    let error = delivery["lastError"] as? [String: Any]
                    return [
                        "\(delivery["deliveryId"] ?? "")", "\(delivery["notificationId"] ?? "")", "\(delivery["userId"] ?? "")",
                        "\(delivery["channel"] ?? "")", "\(delivery["status"] ?? "")", "\(delivery["attempts"] ?? 0)",
                        error.map { "\($0["class"] as? String ?? "?") \($0["code"] as? String ?? "")" } ?? "-",
                        "\(delivery["createdAt"] ?? "")",
                    ]
                }
            ).rendered)
        if let next = reply.body["nextCursor"] as? String { print("more: --cursor '\(next)'") }
    }
}

extension NotificationChannel: ExpressibleByArgument {}
extension DeliveryStatus: ExpressibleByArgument {}
