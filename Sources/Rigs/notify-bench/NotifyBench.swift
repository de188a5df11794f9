import ArgumentParser
import Foundation
import StackSupport

/// `notify-bench`: measures the service against the real local stack (release build: `make bench`).
/// Every subcommand ends with one `RESULT <name> <value> <unit>` line per figure.
@main
struct NotifyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-bench", abstract: "Benchmarks against the local RabbitMQ and PostgreSQL.",
        subcommands: [
            AllBenches.self, AMQPBench.self, ServiceBench.self, InventoryBench.self, EmailBench.self, PacingBench.self, PushBench.self,
            SMSBench.self, SendBench.self,
        ],
        defaultSubcommand: AllBenches.self)
}

struct AllBenches: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "all", abstract: "Every benchmark, in turn.")
    @OptionGroup var stack: StackOptions

    func run() async throws {
        let stackArguments = ["--amqp-url", stack.amqpURL, "--postgres-url", stack.postgresURL]
        let amqp = try AMQPBench.parse(stackArguments)
        try await amqp.run()
        let service = try ServiceBench.parse(stackArguments)
        try await service.run()
        let inventory = try InventoryBench.parse(stackArguments)
        try await inventory.run()
        let email = try EmailBench.parse(stackArguments)
        try await email.run()
        let pacing = try PacingBench.parse(stackArguments)
        try await pacing.run()
        let push = try PushBench.parse(stackArguments)
        try await push.run()
        let sms = try SMSBench.parse(stackArguments)
        try await sms.run()
        let send = try SendBench.parse(stackArguments)
        try await send.run()
    }
}

/// Where the local stack listens (`deploy/dev/stack env` exports these).
struct StackOptions: ParsableArguments {
    @Option(help: "Broker URL.") var amqpURL = StackURLs.amqp
    @Option(help: "A PostgreSQL database URL on the server to use; benchmarks create and drop their own database.")
    var postgresURL = StackURLs.postgres
}

/// Settings for the daemons a benchmark starts, on top of its own: for A/B runs of one build with a feature on
/// and off (`--set NOTIFY_HTTP_PORT=9470 --scrape-http`).
struct DaemonOverrides: ParsableArguments {
    @Option(name: .customLong("set"), parsing: .upToNextOption, help: "NOTIFY_KEY=value settings for the daemon.")
    var settings: [String] = []
    @Flag(help: "While it runs, fetch /metrics and /health/ready once a second, as Prometheus and a load balancer would.")
    var scrapeHTTP = false

    var environment: [String: String] {
        get throws {
            try Dictionary(
                settings.map { setting in
                    let parts = setting.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2, parts[0].hasPrefix("NOTIFY_") else {
                        throw SupportFailure("--set takes NOTIFY_KEY=value, not \(setting)")
                    }
                    return (parts[0], parts[1])
                }
            ) { $1 }
        }
    }

    var httpPort: Int {
        get throws {
            guard let port = try environment["NOTIFY_HTTP_PORT"].flatMap({ Int($0) }), port > 0 else {
                throw SupportFailure("--scrape-http needs --set NOTIFY_HTTP_PORT=<port>")
            }
            return port
        }
    }
}

/// Fetches the daemon's `/metrics` and `/health/ready` once a second with curl, until stopped.
final class HTTPScraper: @unchecked Sendable {
    private let task: Task<Void, Never>

    init(port: Int) {
        task = Task.detached {
            while !Task.isCancelled {
                for path in ["/metrics", "/health/ready"] {
                    let curl = Process()
                    curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
                    curl.arguments = ["-s", "-o", "/dev/null", "--max-time", "5", "http://127.0.0.1:\(port)\(path)"]
                    try? curl.run()
                    curl.waitUntilExit()
                }
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    func stop() { task.cancel() }
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}
