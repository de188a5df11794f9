import Logging
import Postgres
import Testing

@Suite("PostgreSQL session settings, TLS defaults, bad URLs and error classes (no server)")
struct SessionTests {
    static func parameters(_ url: String, _ change: (inout PGConfiguration) -> Void = { _ in }) throws -> [String: String] {
        var configuration = try PGConfiguration(url: url)
        change(&configuration)
        return Dictionary(uniqueKeysWithValues: configuration.connectionParameters.map { ($0.keyword, $0.value) })
    }

    @Test("timeouts and keepalives are set unless the URL says otherwise; the URL's options are kept, after ours")
    func sessionDefaults() throws {
        let defaults = try Self.parameters("postgresql://svc@127.0.0.1:5432/notify")
        #expect(defaults["tcp_user_timeout"] == "10000")
        #expect(defaults["keepalives"] == "1")
        #expect(defaults["connect_timeout"] == "5")
        #expect(defaults["options"]?.contains("-c statement_timeout=15000") == true)
        let custom = try Self.parameters(
            "postgresql://svc@127.0.0.1/notify?options=-c%20search_path%3Dblue&connect_timeout=9&tcp_user_timeout=3000")
        #expect(custom["connect_timeout"] == "9")
        #expect(custom["tcp_user_timeout"] == "3000")
        let options = try #require(custom["options"])
        #expect(options.hasSuffix("-c search_path=blue"), "the URL's options come last, so they win: \(options)")
        #expect(options.contains("-c TimeZone=UTC"))
    }

    @Test("TLS: verify-full by default off loopback; the URL or configuration may say otherwise")
    func tlsDefaults() throws {
        #expect(try Self.parameters("postgresql://svc@db.internal/notify")["sslmode"] == "verify-full")
        #expect(try Self.parameters("postgresql://svc@10.0.0.5,db2.internal/notify")["sslmode"] == "verify-full")
        #expect(try Self.parameters("postgresql://svc@127.0.0.1/notify")["sslmode"] == nil)
        #expect(try Self.parameters("postgresql://svc@localhost/notify")["sslmode"] == nil)
        #expect(try Self.parameters("postgresql:///notify?host=/var/run/postgresql")["sslmode"] == nil)
        #expect(try Self.parameters("postgresql://svc@db.internal/notify?sslmode=require")["sslmode"] == "require")
        #expect(try Self.parameters("postgresql://svc@db.internal/notify") { $0.tlsMode = "verify-ca" }["sslmode"] == "verify-ca")
        #expect(
            try Self.parameters("postgresql://svc@db.internal/notify") { $0.tlsCACertificatePath = "/ca.pem" }["sslrootcert"] == "/ca.pem")
    }

    @Test("a libpq parse error never echoes the URL or its password")
    func parseErrorIsScrubbed() {
        do {
            _ = try PGConfiguration(url: "postgresql://svc:s3cr3t-pw@host/db?sslmode=%zz")
            Issue.record("the URL should be refused")
        } catch {
            #expect(!error.description.contains("s3cr3t-pw"))
            #expect(!error.description.contains("host/db"))
        }
    }

    @Test(
        "every error is retried except those caused by the data",
        arguments: [
            ("57014", true), ("25006", true), ("53100", true), ("53200", true), ("55P03", true), ("40001", true),
            ("40P01", true), ("08006", true), ("57P01", true), ("42501", true), ("XX000", true),
            ("22001", false), ("22P02", false), ("23505", false), ("54000", false),
        ])
    func retriable(sqlState: String, retriable: Bool) {
        #expect(PGError(.statementFailed, "x", sqlState: sqlState).isRetriable == retriable)
    }

    @Test("an unparsable URL is refused up front")
    func badURL() {
        #expect(throws: PGError.self) { try PGConfiguration(url: "postgresql://host/db?no_such_option=1") }
    }

    @Test("an unreachable server is a clear connection error naming where, without the password")
    func unreachable() async throws {
        var configuration = try PGConfiguration(url: "postgresql://svc:hunter2@127.0.0.1:1/notify")
        configuration.connectTimeoutSeconds = 2
        let pool = PGPool(configuration: configuration, logger: Logger(label: "postgres-tests"))
        do {
            try await pool.connect()
            Issue.record("connect should fail")
        } catch {
            #expect(error.code == .connectionFailed)
            #expect(error.description.contains("127.0.0.1:1/notify"))
            #expect(!error.description.contains("hunter2"))
        }
    }
}
