import AMQP
import Foundation
import StackSupport
import Testing

@Suite("AMQP over TLS against the local stack's TLS listener", .needsStack)
struct TLSTests {
    static let url = ProcessInfo.processInfo.environment["NOTIFY_TEST_AMQPS_URL"] ?? "amqps://guest:guest@localhost:5683/%2f"
    static let ca =
        ProcessInfo.processInfo.environment["NOTIFY_TEST_TLS_CA"]
        ?? repositoryRoot.appendingPathComponent(".stack/tls/ca.pem").path

    @Test("amqps:// with the right CA: the certificate and host name verify, and messages flow")
    func verified() async throws {
        var configuration = try AMQPConfiguration(url: Self.url)
        configuration.connectionName = "test-tls"
        configuration.caCertificatePath = Self.ca
        let connection = AMQPConnection(configuration: configuration, confirmMode: true, logger: TestStack.logger)
        try await connection.connect()
        let queue = try await TestStack.freshQueue("tls", on: connection)
        #expect(try await connection.publish([TestStack.message(to: queue, 1)]) == [.confirmed])
        #expect(try await connection.queueStatus(queue).messageCount == 1)
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test("amqps:// without a CA that signed the server's certificate is refused")
    func unverified() async throws {
        var configuration = try AMQPConfiguration(url: Self.url)
        configuration.connectionName = "test-tls-unverified"
        configuration.connectTimeout = .seconds(3)
        let connection = AMQPConnection(configuration: configuration, confirmMode: false, logger: TestStack.logger)
        await #expect(throws: AMQPError.self) { try await connection.connect() }
    }

    @Test("a missing CA file is a configuration error, not a crash")
    func missingCAFile() async throws {
        var configuration = try AMQPConfiguration(url: Self.url)
        configuration.caCertificatePath = "/nonexistent/ca.pem"
        let connection = AMQPConnection(configuration: configuration, confirmMode: false, logger: TestStack.logger)
        do {
            try await connection.connect()
            Issue.record("connect should fail")
        } catch {
            #expect(error.code == .invalidConfiguration)
        }
    }
}
