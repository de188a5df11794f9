import ArgumentParser
import NotifyCore

/// `notifyctl dlq list|show|redrive|purge`: the parked-message archive, over the same RPC queue as every client.
struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "List, show, redrive or purge parked messages (events and deliveries).",
        subcommands: [List.self, Show.self, Redrive.self, Purge.self])

    /// Exactly one selector, as redrive and purge take it.
    struct Selector: ParsableArguments {
        @Argument(help: "Parked ids (from 'notifyctl dlq list').") var ids: [String] = []
        @Option(help: "Every parked message with this reason (invalid-json, undeliverable, ...).") var reason: String?
        @Flag(help: "Every parked message.") var all = false

        func validate() throws {
            guard [!ids.isEmpty, reason != nil, all].filter({ $0 }).count == 1 else {
                throw ValidationError("give parked ids, --reason or --all (exactly one)")
            }
            guard ids.allSatisfy({ Int64($0) != nil }) else { throw ValidationError("parked ids are numbers") }
        }

        var selection: ParkedSelection {
            if all { return .all }
            if let reason { return .reason(reason) }
            return .ids(ids.compactMap { Int64($0) })
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A page of parked messages, oldest first.")
        @Option(help: "Only this reason.") var reason: String?
        @Option(help: "Only events or only deliveries.") var kind: ParkedKind?
        @Option(help: "At most this many, 1 to 100.") var limit = 20
        @Option(help: "The cursor a previous page printed.") var cursor: Int64?
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let reply = try await callDaemon(options, ListParked(reason: reason, kind: kind, limit: limit, after: cursor))
            if options.json { return try printJSON(reply.body) }
            let parked = reply.body["parked"] as? [[String: Any]] ?? []
            print(
                Table(
                    header: ["ID", "KIND", "REASON", "PARKED", "ROUTING KEY", "DELIVERY", "DETAIL"],
                    rows: parked.map { entry in
                        [
                            "\(entry["parkedId"] ?? "")", "\(entry["kind"] ?? "")", "\(entry["reason"] ?? "")",
                            "\(entry["parkedAt"] ?? "")",
                            entry["routingKey"] as? String ?? "-", entry["deliveryId"] as? String ?? "-", "\(entry["detail"] ?? "")",
                        ]
                    }
                ).rendered)
            if let next = reply.body["nextCursor"] as? String { print("more: --cursor \(next)") }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "One parked message's reason and origin.")
        @Argument(help: "The parked id.") var id: Int64
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let reply = try await callDaemon(options, ListParked(limit: 1, after: id - 1))
            guard let entry = (reply.body["parked"] as? [[String: Any]])?.first, entry["parkedId"] as? String == String(id) else {
                throw CLIError("no parked message \(id)")
            }
            if options.json { return try printJSON(entry) }
            for key in ["parkedId", "kind", "reason", "detail", "parkedAt", "routingKey", "deliveryId"] {
                print("\(key.padding(toLength: 12, withPad: " ", startingAt: 0))\(entry[key] as? String ?? "-")")
            }
        }
    }

    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send parked messages back: events to their exchange and routing key, deliveries to their lane.")
        @OptionGroup var selector: Selector
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let reply = try await callDaemon(options, RedriveParked(selector.selection))
            if options.json { return try printJSON(reply.body) }
            print("redriven: \(reply.body["redriven"] ?? 0), still selected: \(reply.body["remaining"] ?? 0)")
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete parked messages for good.")
        @OptionGroup var selector: Selector
        @OptionGroup var options: ConnectionOptions

        func run() async throws {
            let reply = try await callDaemon(options, PurgeParked(selector.selection))
            if options.json { return try printJSON(reply.body) }
            print("purged: \(reply.body["purged"] ?? 0), still selected: \(reply.body["remaining"] ?? 0)")
        }
    }
}

extension ParkedKind: ExpressibleByArgument {}
