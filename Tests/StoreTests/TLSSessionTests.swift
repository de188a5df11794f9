import Foundation
import Postgres
import Testing

/// Sessions the stack's PostgreSQL encrypts and verifies, and what a data error shows.
@Suite("PostgreSQL sessions over TLS against the stack's server, and what a data error shows", .needsPostgreSQL)
struct TLSSessionTests {
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

    static let caPath =
        ProcessInfo.processInfo.environment["NOTIFY_TEST_TLS_CA"]
        ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent(".stack/tls/ca.pem").path

    /// The test database's URL with another host (the stack listens on 127.0.0.1; `localhost` resolves there).
    static func stackURL(host: String) -> String {
        var components = URLComponents(string: TestDatabase.url)!
        components.host = host
        return components.string!
    }
}
