import ArgumentParser
import NotifyCore

/// `notifyctl deliveries <notificationId>`: where each channel of one notification stands, and how it got there.
struct Deliveries: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show each channel of a notification: status, attempts, provider id, last error, history.")

    @Argument(help: "The notification id.") var id: String
    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        let reply = try await callDaemon(options, GetDeliveryStatus(notificationID: id))
        if options.json { return try printJSON(reply.body) }
        let deliveries = reply.body["deliveries"] as? [[String: Any]] ?? []
        print(Table(header: ["CHANNEL", "STATUS", "ATTEMPTS", "PROVIDER ID", "LAST ERROR", "UPDATED"], rows: deliveries.map { delivery in
            let error = delivery["lastError"] as? [String: Any]
            return ["\(delivery["channel"] ?? "")", "\(delivery["status"] ?? "")", "\(delivery["attempts"] ?? 0)",
                    delivery["providerMessageId"] as? String ?? "-",
                    error.map { "\($0["class"] as? String ?? "?") \($0["code"] as? String ?? "")" } ?? "-",
                    "\(delivery["updatedAt"] ?? "")"]
        }).rendered)
        for delivery in deliveries {
            for entry in delivery["history"] as? [[String: Any]] ?? [] {
                let detail = [entry["errorClass"], entry["errorCode"], entry["detail"]].compactMap { $0 as? String }.joined(separator: " ")
                print("  \(delivery["channel"] ?? "")  \(entry["at"] ?? "")  \(entry["status"] ?? "")  attempt \(entry["attempt"] ?? 0)\(detail.isEmpty ? "" : "  \(detail)")")
            }
        }
    }
}
