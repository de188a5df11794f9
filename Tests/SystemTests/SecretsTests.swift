import Foundation
import StackSupport
import Testing

/// Secrets never reach a log, an error or argv; credentials come from files systemd hands over.
@Suite("Secrets and credentials", .needsStack)
struct SecretsTests {
    static func credentials(_ files: [String: String]) throws -> String {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("credentials-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, content) in files {
            try (content + "\n").write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        return directory.path
    }

    @Test("credentials in $CREDENTIALS_DIRECTORY win over the environment")
    func credentialsWin() async throws {
        let directory = try Self.credentials(["notify-postgres-url": DaemonProcess.stackEnvironment["NOTIFY_POSTGRES_URL"]!])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let daemon = try DaemonProcess(environment: [
            "CREDENTIALS_DIRECTORY": directory, "NOTIFY_POSTGRES_URL": "postgresql://svc:env-secret@127.0.0.1:5998/none",
        ])
        #expect(await daemon.waitForLog("ready"), "log was: \(daemon.log)")
        daemon.signal(SIGTERM)
        #expect(await daemon.waitForExit(timeout: .seconds(10)) == 0)
        #expect(!daemon.log.contains("env-secret"))
    }

    @Test("a refused or unparsable URL from a credential or the environment is reported without its password")
    func noPasswordInErrors() async throws {
        let directory = try Self.credentials(["notify-amqp-url": "amqp://guest:cred-secret@127.0.0.1:5999/%2f"])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let broker = try DaemonProcess(environment: ["CREDENTIALS_DIRECTORY": directory])
        #expect(await broker.waitForExit(timeout: .seconds(20)) != 0)
        #expect(broker.log.contains("cannot start"))
        #expect(!broker.log.contains("cred-secret"))
        let database = try DaemonProcess(environment: ["NOTIFY_POSTGRES_URL": "postgresql://svc:pg-secret@db/notify?sslmode=%zz"])
        #expect(await database.waitForExit(timeout: .seconds(20)) != 0)
        #expect(database.log.contains("postgres.url"), "log was: \(database.log)")
        #expect(!database.log.contains("pg-secret"))
    }

    static func notifyctl(_ arguments: [String]) throws -> (status: Int32, output: String) {
        try NotifyctlProcess.run(arguments)
    }

    @Test("notifyctl refuses a password in argv and an impossible timeout, with a clear message")
    func notifyctlArguments() throws {
        let withPassword = try Self.notifyctl(["status", "--amqp-url", "amqp://guest:argv-secret@127.0.0.1:5682/%2f"])
        #expect(withPassword.status != 0)
        #expect(withPassword.output.contains("NOTIFY_AMQP_URL"), "\(withPassword.output)")
        for timeout in ["inf", "nan", "1e300", "-1", "0"] {
            let result = try Self.notifyctl(["inbox", "u-1", "--timeout=\(timeout)"])
            #expect(result.status != 0)
            #expect(result.output.contains("--timeout must be between"), "\(timeout): \(result.output)")
        }
    }

    @Test("notifyctl reads the broker URL, password included, from a file")
    func notifyctlURLFile() throws {
        let directory = try Self.credentials(["amqp-url": DaemonProcess.stackEnvironment["NOTIFY_AMQP_URL"]!])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try Self.notifyctl(["status", "--amqp-url-file", "\(directory)/amqp-url"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("QUEUE"))
    }
}
