import Foundation
import Postgres
import Testing

@Suite("PostgreSQL session settings, TLS and error classes")
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
        #expect(try Self.parameters("postgresql://svc@db.internal/notify") { $0.tlsCACertificatePath = "/ca.pem" }["sslrootcert"] == "/ca.pem")
    }

    @Test("verify-full against the stack's server with its CA: an encrypted, verified session")
    func verifiedTLS() async throws {
        var configuration = try PGConfiguration(url: Self.stackURL(host: "localhost"))
        configuration.tlsMode = "verify-full"
        configuration.tlsCACertificatePath = Self.caPath
        configuration.poolSize = 1
        let pool = PGPool(configuration: configuration, logger: TestDatabase.logger)
        try await pool.connect()
        let encrypted = try await pool.withConnection {
            try $0.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")[0].decode(0, as: Bool.self)
        }
        #expect(encrypted)
        await pool.close()
    }

    @Test("verify-full without the CA, or with a host name the certificate does not name, is refused with a clear error")
    func unverifiedTLSRefused() async throws {
        // The second connects to the right address but expects a name the certificate does not carry.
        let wrongName = Self.stackURL(host: "notify-test.invalid") + "?hostaddr=127.0.0.1"
        for (url, ca) in [(Self.stackURL(host: "localhost"), "/nonexistent/ca.pem"), (wrongName, Self.caPath)] {
            var configuration = try PGConfiguration(url: url)
            configuration.tlsMode = "verify-full"
            configuration.tlsCACertificatePath = ca
            configuration.poolSize = 1
            configuration.connectTimeoutSeconds = 2
            let pool = PGPool(configuration: configuration, logger: TestDatabase.logger)
            do {
                try await pool.connect()
                Issue.record("\(url) should be refused")
            } catch {
                #expect(error.code == .connectionFailed)
                #expect(error.description.contains("certificate") || error.description.contains("root cert"), "\(error)")
            }
        }
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

    @Test("every error is retried except those caused by the data", arguments: [
        ("57014", true), ("25006", true), ("53100", true), ("53200", true), ("55P03", true), ("40001", true),
        ("40P01", true), ("08006", true), ("57P01", true), ("42501", true), ("XX000", true),
        ("22001", false), ("22P02", false), ("23505", false), ("54000", false),
    ])
    func retriable(sqlState: String, retriable: Bool) {
        #expect(PGError(.statementFailed, "x", sqlState: sqlState).isRetriable == retriable)
    }

    @Test("a data error's message, which quotes the value, is in debugDescription only")
    func dataErrorDetail() async throws {
        let pool = try await TestDatabase.pool(size: 1)
        var failure: (any Error)?
        do {
            _ = try await pool.withConnection { try $0.query("SELECT \("secret-value-42")::uuid") }
        } catch {
            failure = error
        }
        await pool.close()
        let error = try #require(failure as? PGError)
        #expect(!error.isRetriable)
        #expect(!error.description.contains("secret-value-42"))
        #expect(String(reflecting: error).contains("secret-value-42"))
    }

    static let caPath = ProcessInfo.processInfo.environment["NOTIFY_TEST_TLS_CA"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".stack/tls/ca.pem").path

    /// The test database's URL with another host (the stack listens on 127.0.0.1; `localhost` resolves there).
    static func stackURL(host: String) -> String {
        var components = URLComponents(string: TestDatabase.url)!
        components.host = host
        return components.string!
    }
}
