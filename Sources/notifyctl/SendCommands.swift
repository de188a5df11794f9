import ArgumentParser
import Foundation
import NotifyCore

/// `notifyctl send`: one `SendNotification` with the product's or organisation's key (`$NOTIFY_API_KEY` or
/// `--api-key-file`), checked by the daemon as any client's; for an operator's test message or a script.
struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Send a notification as a product or organisation (its key from $NOTIFY_API_KEY or --api-key-file).")

    @Option(help: "A channel: email, sms, push, webhook or in-app; repeat for several.") var channel: [NotificationChannel] = []
    @Option(help: "The message category (OTP, ORDER_CONFIRMATION, NEWSLETTER, ...): it decides the lane.") var category: String
    @Option(help: "The recipient's user id (default: derived from the address).") var user: String?
    @Option(help: "Send to this email address (written to the user's entry).") var email: String?
    @Option(help: "Send to this phone number in E.164 (written to the user's entry).") var phone: String?
    @Option(help: "The title (email subject, push title).") var title: String?
    @Option(help: "The text.") var body: String?
    @Option(help: "Send the product's template of this name instead of --title and --body.") var template: String?
    @Option(help: "The template's data: a JSON object.") var data: String?
    @Option(help: "The language to render the template in when the recipient has none (es-MX, ...).") var locale: String?
    @Option(help: "A key that makes a repeat of this send a 208 instead of a second send.") var idempotencyKey: String?
    @Flag(help: "One attempt only: a transient failure is final.") var noRetry = false
    @Option(help: "Send at this RFC 3339 time (up to 30 days ahead) instead of now.") var at: String?
    @Option(help: "Batch email, SMS and push with the recipient's others of this category for this many seconds (a digest).")
    var digestWindow: Int?
    @Option(help: "Send the digest as soon as it holds this many (default 20).") var digestMax: Int?
    @OptionGroup var options: ConnectionOptions

    func validate() throws {
        guard !channel.isEmpty else { throw ValidationError("name at least one --channel") }
        guard user != nil || email != nil || phone != nil else { throw ValidationError("name --user, --email or --phone") }
        guard (template == nil) == (title != nil && body != nil), template != nil || data == nil else {
            throw ValidationError("give --title and --body, or --template (with --data)")
        }
        if let at, RFC3339.date(from: at) == nil { throw ValidationError("--at takes an RFC 3339 time with its offset") }
    }

    func run() async throws {
        var recipient: [(String, JSONValue)] = []
        if let user { recipient.append(("userId", .string(user))) }
        if let email { recipient.append(("email", .string(email))) }
        if let phone { recipient.append(("phone", .string(phone))) }
        var members: [(String, JSONValue)] = [
            ("channels", .array(channel.map { .string($0.rawValue) })), ("messageCategory", .string(category)),
            ("recipient", .object(recipient)),
        ]
        if let title, let body { members.append(("content", .object([("title", .string(title)), ("body", .string(body))]))) }
        if let locale { members.append(("locale", .string(locale))) }
        if let idempotencyKey { members.append(("idempotencyKey", .string(idempotencyKey))) }
        if noRetry { members.append(("retryEnabled", .bool(false))) }
        if let at { members.append(("scheduledAt", .string(at))) }
        if digestWindow != nil || digestMax != nil {
            members.append(
                (
                    "digest",
                    .object(
                        [("windowSeconds", digestWindow.map(JSONValue.int)), ("maxItems", digestMax.map(JSONValue.int))]
                            .compactMap { name, value in value.map { (name, $0) } })
                ))
        }
        // The daemon's parser is the one that checks the request (400 naming the field), as for any client.
        let request: SendNotification
        var text = String(decoding: JSONValue.object(members).bytes.dropLast(), as: UTF8.self)
        if let template {
            // The data is the caller's JSON as written; the parser below checks it.
            text +=
                ",\"template\":{\"name\":" + String(decoding: JSONValue.string(template).bytes, as: UTF8.self)
                + (data.map { ",\"data\":" + $0 } ?? "") + "}"
        }
        do { request = try SendNotification(body: Array((text + "}").utf8)) } catch { throw CLIError("\(error.status): \(error.message)") }
        let reply = try await callDaemon(options, request)
        if options.json { return try printJSON(reply.body) }
        print("request \(reply.body["requestId"] as? String ?? "-")  notification \(reply.body["notificationId"] as? String ?? "-")")
        for delivery in reply.body["deliveries"] as? [[String: Any]] ?? [] {
            print(
                "  \(delivery["channel"] as? String ?? "")  \(delivery["deliveryId"] as? String ?? "")  \(delivery["status"] as? String ?? "")"
            )
        }
    }
}
