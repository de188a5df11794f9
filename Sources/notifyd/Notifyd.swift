import ArgumentParser
import Configuration
import Foundation
import Logging
import NotifyCore
import SystemPackage

/// `notifyd`: the FlowMart notification daemon.
@main
struct Notifyd: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notifyd",
        abstract: "FlowMart notification daemon: consumes events, stores notifications, answers RPC queries.",
        discussion: "Settings come from the JSON file, overridden by NOTIFY_* environment variables (see docs/configuration.md).")

    @Option(name: .long, help: "JSON configuration file. A missing default file means all defaults.")
    var config: String?

    static let defaultConfigPath = "Config/notifyd.json"

    func run() async throws {
        LoggingSystem.bootstrap(StreamLogHandler.standardError)
        var logger = Logger(label: "notifyd")
        do {
            let settings = try await loadConfiguration()
            logger.logLevel = settings.logLevel
            try await Daemon(configuration: settings, logger: logger).run()
        } catch {
            // One line naming what failed and where; never a stack trace, never a secret.
            logger.critical("\(Self.describe(error))")
            throw ExitCode(1)
        }
    }

    private func loadConfiguration() async throws -> DaemonConfiguration {
        let path = config ?? Self.defaultConfigPath
        let file: FileProvider<JSONSnapshot>
        do {
            file = try await FileProvider<JSONSnapshot>(filePath: FilePath(path), allowMissing: config == nil)
        } catch {
            throw StartupError(step: "configuration file '\(path)'", reason: "\(error)")
        }
        let problems = ConfigProblems()
        let reader = ConfigReader(
            providers: [
                Credentials.provider(directory: ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"]),
                EnvironmentVariablesProvider().prefixKeys(with: "notify"), file,
            ],
            accessReporter: problems)
        let directory = (path as NSString).deletingLastPathComponent
        return try DaemonConfiguration(config: reader, problems: problems, baseDirectory: directory.isEmpty ? "." : directory)
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as ConfigurationError: "cannot start: \(error)"
        case let error as StartupError: error.description
        case let error as TemplateError: "cannot start: \(error)"
        default: "stopped on an unexpected error: \(error)"
        }
    }
}
