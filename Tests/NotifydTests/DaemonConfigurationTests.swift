import Configuration
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
        #expect(configuration.postgres.poolSize == 2)
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
        #expect(configuration.postgres.poolSize == 8)
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
        #expect(configuration.timestampWindow.allowedSkewSeconds == 60)
        #expect(configuration.postgres.tlsMode == "require")
        #expect(configuration.postgres.statementTimeoutMilliseconds == 2000)
        let defaults = try load([:])
        #expect(defaults.timestampWindow.allowedSkewSeconds == 300)
        #expect(defaults.oversizedBudgetBytes == 16 * 1024 * 1024)
        #expect(defaults.postgres.tlsMode == nil)
    }
}
