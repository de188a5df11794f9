import ArgumentParser
import Foundation
import TestSupport

/// `notify-bench`: measures the service against the real local stack (release build: `make bench`).
/// Every subcommand ends with one `RESULT <name> <value> <unit>` line per figure.
@main
struct NotifyBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-bench", abstract: "Benchmarks against the local RabbitMQ and PostgreSQL.",
        subcommands: [AllBenches.self, AMQPBench.self, ServiceBench.self, InventoryBench.self, EmailBench.self],
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
    }
}

/// Where the local stack listens (`deploy/dev/stack env` exports these).
struct StackOptions: ParsableArguments {
    @Option(help: "Broker URL.") var amqpURL = StackURLs.amqp
    @Option(help: "A PostgreSQL database URL on the server to use; benchmarks create and drop their own database.")
    var postgresURL = StackURLs.postgres
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func median(_ values: [Double]) -> Double { values.sorted()[values.count / 2] }

func percentile(_ sorted: [Double], _ fraction: Double) -> Double {
    sorted[min(sorted.count - 1, Int(Double(sorted.count) * fraction))]
}
