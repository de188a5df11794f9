import Configuration
import Foundation
import StackSupport
import Synchronization
import SystemPackage
import Testing

@testable import notifyd

@Suite("notifyd configuration")
struct DaemonConfigurationTests {
    func load(_ values: [AbsoluteConfigKey: ConfigValue]) throws(ConfigurationError) -> DaemonConfiguration {
        let problems = ConfigProblems()
        let reader = ConfigReader(provider: InMemoryProvider(values: values), accessReporter: problems)
        return try DaemonConfiguration(config: reader, problems: problems)
    }

    @Test("defaults are the contract's names and documented values")
    func defaults() throws {
        let configuration = try load([:])
        #expect(configuration.amqp.endpoint.port == 5672)
        #expect(configuration.amqp.endpoint.vhost == "/")
        #expect(configuration.amqp.heartbeat == .seconds(10))
        #expect(configuration.database.connection.poolSize == 2)
        #expect(configuration.names.eventsExchange == "flowmart.events")
        #expect(configuration.names.eventsQueue == "notifications.events")
        #expect(configuration.names.deadLetterQueue == "notifications.dlq")
        #expect(configuration.names.rpcQueue == "notifications.rpc")
        #expect(configuration.shutdownTimeout == .seconds(8))
    }

    @Test("values override defaults")
    func overrides() throws {
        let configuration = try load([
            "amqp.url": "amqps://svc:pw@mq.internal/flowmart",
            "postgres.poolSize": 8,
            "topology.rpcQueue": "notifications.rpc.blue",
        ])
        #expect(configuration.amqp.endpoint.tls)
        #expect(configuration.amqp.endpoint.vhost == "flowmart")
        #expect(configuration.database.connection.poolSize == 8)
        #expect(configuration.names.rpcQueue == "notifications.rpc.blue")
    }

    @Test("out-of-range and wrongly typed values are errors naming the key")
    func refusals() {
        #expect(throws: ConfigurationError.self) { try load(["postgres.poolSize": 0]) }
        #expect(throws: ConfigurationError.self) { try load(["amqp.heartbeatSeconds": "ten"]) }
        #expect(throws: ConfigurationError.self) { try load(["postgres.url": "postgresql://h/db?bogus=1"]) }
        do {
            _ = try load(["shutdown.timeoutSeconds": 0])
            Issue.record("a zero shutdown timeout must be refused")
        } catch {
            #expect(error.key == "shutdown.timeoutSeconds")
        }
    }

    @Test("the claim sweep's bound is never shorter than a live worker may hold a claim")
    func sweepBound() throws {
        #expect(try load([:]).delivery.sweep.staleAfterSeconds == 1800)
        // 300 s provider hold + 60 s pacing wait + 300 s allowance.
        #expect(try load(["delivery.sweepAfterSeconds": 660]).delivery.sweep.staleAfterSeconds == 660)
        #expect(throws: ConfigurationError.self) { try load(["delivery.sweepAfterSeconds": 659]) }
        let longHolds = try load(["delivery.maxProviderHoldSeconds": 1500, "delivery.maxPacingWaitSeconds": 60])
        #expect(longHolds.delivery.sweep.staleAfterSeconds == 1860, "unset, the bound follows longer holds")
        let short = try load([
            "delivery.maxProviderHoldSeconds": 1, "delivery.maxPacingWaitSeconds": 0, "delivery.sweepAfterSeconds": 301,
            "delivery.sweepIntervalSeconds": 1,
        ])
        #expect(short.delivery.sweep.staleAfterSeconds == 301 && short.delivery.sweep.intervalSeconds == 1)
    }

    @Test("the hardening keys: bounds on held memory, clock skew, TLS mode, statement timeout")
    func hardeningKeys() throws {
        #expect(throws: ConfigurationError(key: "ingestion.maxBodyBytes", reason: "times ingestion.prefetch must be at most 1 GiB")) {
            try load(["ingestion.prefetch": 10_000, "ingestion.maxBodyBytes": 16_777_216])
        }
        #expect(throws: ConfigurationError.self) { try load(["postgres.tls.mode": "verify-everything"]) }
        let configuration = try load([
            "ingestion.maxClockSkewSeconds": 60, "postgres.tls.mode": "require",
            "postgres.statementTimeoutMilliseconds": 2000,
        ])
        #expect(configuration.ingestion.timestampWindow.allowedSkewSeconds == 60)
        #expect(configuration.database.connection.tlsMode == "require")
        #expect(configuration.database.connection.statementTimeoutMilliseconds == 2000)
        let defaults = try load([:])
        #expect(defaults.ingestion.timestampWindow.allowedSkewSeconds == 300)
        #expect(defaults.ingestion.oversizedBudgetBytes == 16 * 1024 * 1024)
        #expect(defaults.database.connection.tlsMode == nil)
    }

    @Test("Config/notifyd.json and the table of docs/configuration.md name exactly the keys the code reads, with the code's defaults")
    func documentationMatchesCode() async throws {
        let configDirectory = repositoryRoot.appendingPathComponent("Config").path
        let recorder = KeyRecorder()
        let defaults = try DaemonConfiguration(
            config: ConfigReader(provider: InMemoryProvider(values: [:]), accessReporter: recorder),
            problems: ConfigProblems(), baseDirectory: configDirectory)
        let read = recorder.keys

        let path = "\(configDirectory)/notifyd.json"
        let json = Self.flatten(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(Set(json.keys) == read, "in the file only: \(Set(json.keys).subtracting(read)); read only: \(read.subtracting(json.keys))")
        let fromFile = try DaemonConfiguration(
            config: ConfigReader(provider: try await FileProvider<JSONSnapshot>(filePath: FilePath(path))),
            problems: ConfigProblems(), baseDirectory: configDirectory)
        #expect(fromFile == defaults, "Config/notifyd.json must hold exactly the defaults")

        let page = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let section = try #require(
            page.components(separatedBy: "\n## Keys\n").dropFirst().first, "docs/configuration.md has no Keys section"
        )
        .components(separatedBy: "\n## ")[0]
        var documented: [String: String] = [:]
        for line in section.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            for key in cells[0].split(separator: ",") {
                documented[key.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "`"))] =
                    cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            }
        }
        #expect(
            Set(documented.keys) == read,
            "in docs/configuration.md only: \(Set(documented.keys).subtracting(read)); read only: \(read.subtracting(documented.keys))")
        for (key, value) in json {
            let documentedDefault = documented[key].map { ["none", "empty", "automatic"].contains($0) ? "" : $0 }
            #expect(documentedDefault == value, "docs/configuration.md's default of \(key)")
        }
    }

    @Test("deploy/cluster/notifyd.json, the sample for a cluster, sets only keys the code reads, and loads")
    func clusterSample() async throws {
        let recorder = KeyRecorder()
        _ = try DaemonConfiguration(
            config: ConfigReader(provider: InMemoryProvider(values: [:]), accessReporter: recorder), problems: ConfigProblems())
        let path = repositoryRoot.appendingPathComponent("deploy/cluster/notifyd.json").path
        let json = Self.flatten(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))))
        #expect(Set(json.keys).isSubset(of: recorder.keys), "not read: \(Set(json.keys).subtracting(recorder.keys))")
        #expect(!json.keys.contains("amqp.url") && !json.keys.contains("postgres.url"), "URLs carry passwords: credentials only")
        let sample = try DaemonConfiguration(
            config: ConfigReader(provider: try await FileProvider<JSONSnapshot>(filePath: FilePath(path))), problems: ConfigProblems())
        #expect(sample.amqp.alternateNodes.map(\.host) == ["rabbit-2.flowmart.internal", "rabbit-3.flowmart.internal"])
        #expect(sample.topology.rpcQueueType == "quorum")
    }

    /// `{"a": {"b": 1}}` as `["a.b": "1"]`; arrays are joined with commas.
    static func flatten(_ value: Any, prefix: String = "") -> [String: String] {
        switch value {
        case let object as [String: Any]:
            return object.reduce(into: [:]) { result, member in
                result.merge(flatten(member.value, prefix: prefix.isEmpty ? member.key : "\(prefix).\(member.key)")) { $1 }
            }
        case let array as [Any]: return [prefix: array.map { "\($0)" }.joined(separator: ",")]
        case let flag as NSNumber where type(of: flag) == type(of: NSNumber(value: true)):
            return [prefix: flag.boolValue ? "true" : "false"]
        default: return [prefix: "\(value)"]
        }
    }
}

/// Records every configuration key read.
private final class KeyRecorder: AccessReporter, Sendable {
    private let read = Mutex<Set<String>>([])
    func report(_ event: AccessEvent) {
        _ = read.withLock { $0.insert(event.metadata.key.components.joined(separator: ".")) }
    }
    var keys: Set<String> { read.withLock { $0 } }
}
