import AMQP
import ArgumentParser
import Foundation
import Logging
import NotifyCore

/// `notifyctl`: talks to the notification service over RabbitMQ, as any FlowMart client would.
@main
struct Notifyctl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifyctl",
        abstract: "Operate the FlowMart notification service through RabbitMQ.",
        subcommands: [
            Status.self, Inbox.self, Show.self, Read.self, Inventory.self, RecipientCommand.self, Deliveries.self, DeadLetterCommand.self,
            ProductCommand.self, OrganizationCommand.self, KeyCommand.self, AuditCommand.self, Send.self, TemplateCommand.self,
            Publish.self,
        ])
}

/// Options every subcommand shares.
///
/// Credentials never go on the command line, where every user of the machine can read them (`ps`, shell history):
/// `--amqp-url` takes a URL without a password, which comes from `$NOTIFY_AMQP_URL` or a file; the API key sent as
/// `x-api-key` comes from `$NOTIFY_API_KEY` or `--api-key-file`.
struct ConnectionOptions: ParsableArguments {
    @Option(help: "Broker URL without a password (default: $NOTIFY_AMQP_URL, else the contract default).")
    var amqpURL: String?

    @Option(help: "File holding the broker URL, password included (mode 0600), instead of --amqp-url.")
    var amqpURLFile: String?

    @Option(help: "File holding the API key (mode 0600), instead of $NOTIFY_API_KEY.")
    var apiKeyFile: String?

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(help: "Seconds to wait for the daemon's reply, 0.1 to 3600.")
    var timeout: Double = 5

    func validate() throws {
        guard timeout.isFinite, (0.1...3600).contains(timeout) else {
            throw ValidationError("--timeout must be between 0.1 and 3600 seconds")
        }
        if let amqpURL, (try? AMQPEndpoint(url: amqpURL))?.hasPassword == true {
            throw ValidationError(
                "--amqp-url must not carry a password (it would show in the process list); "
                    + "set NOTIFY_AMQP_URL or use --amqp-url-file")
        }
        if amqpURL != nil, amqpURLFile != nil { throw ValidationError("give --amqp-url or --amqp-url-file, not both") }
    }

    /// The reply deadline, from a validated `timeout`.
    var replyTimeout: Duration { .milliseconds(Int64((timeout * 1000).rounded())) }

    func connect(confirmMode: Bool = false) async throws -> AMQPConnection {
        var configuration = try AMQPConfiguration(url: try brokerURL())
        configuration.connectionName = "notifyctl"
        configuration.connectTimeout = .seconds(3)
        var logger = Logger(label: "notifyctl")
        logger.logLevel = .critical
        let connection = AMQPConnection(configuration: configuration, confirmMode: confirmMode, logger: logger)
        do {
            try await connection.connect()
        } catch {
            throw CLIError("cannot reach the broker at \(configuration.endpoint): \(error.reason)")
        }
        return connection
    }

    /// The daemon's RPC queue: `$NOTIFY_TOPOLOGY_RPC_QUEUE` (the variable notifyd reads for it), else the contract's.
    var rpcQueue: String { ProcessInfo.processInfo.environment["NOTIFY_TOPOLOGY_RPC_QUEUE"] ?? ContractNames().rpcQueue }

    /// The key every request carries, if one is configured.
    func apiKey() throws -> String? {
        if let apiKeyFile {
            guard let data = FileManager.default.contents(atPath: apiKeyFile) else {
                throw CLIError("cannot read the API key file '\(apiKeyFile)'")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return ProcessInfo.processInfo.environment["NOTIFY_API_KEY"].flatMap { $0.isEmpty ? nil : $0 }
    }

    private func brokerURL() throws -> String {
        if let amqpURLFile {
            guard let data = FileManager.default.contents(atPath: amqpURLFile) else {
                throw CLIError("cannot read the broker URL file '\(amqpURLFile)'")
            }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        return amqpURL ?? ProcessInfo.processInfo.environment["NOTIFY_AMQP_URL"] ?? AMQPConfiguration.defaultURL
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the service's queues: messages waiting and consumers attached (0 consumers: no daemon running).")

    @OptionGroup var options: ConnectionOptions

    func run() async throws {
        let connection = try await options.connect()
        let names = ContractNames()
        var rows: [QueueRow] = []
        for queue in [names.eventsQueue, names.rpcQueue, names.deadLetterQueue] {
            rows.append(await QueueRow(queue: queue, on: connection))
        }
        await connection.close()
        if options.json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(rows), as: UTF8.self))
        } else {
            print(Table(header: ["QUEUE", "MESSAGES", "CONSUMERS"], rows: rows.map(\.cells)).rendered)
        }
    }
}

/// One queue's state; a queue that does not exist yet (no daemon ever started) is reported as missing.
struct QueueRow: Encodable {
    var queue: String
    var messages: UInt32?
    var consumers: UInt32?
    var missing: Bool

    init(queue: String, on connection: AMQPConnection) async {
        self.queue = queue
        let status = try? await connection.queueStatus(queue)
        messages = status?.messageCount
        consumers = status?.consumerCount
        missing = status == nil
    }

    var cells: [String] {
        missing ? [queue, "missing", "-"] : [queue, "\(messages ?? 0)", "\(consumers ?? 0)"]
    }
}

/// A failure shown to the user as `Error: <description>`, with exit status 1 and no usage text.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Left-aligned columns, two spaces apart.
struct Table {
    var header: [String]
    var rows: [[String]]

    var rendered: String {
        let all = [header] + rows
        let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
        return all.map { row in
            row.indices.map { column in
                column == row.count - 1 ? row[column] : row[column].padding(toLength: widths[column] + 2, withPad: " ", startingAt: 0)
            }.joined()
        }.joined(separator: "\n")
    }
}
