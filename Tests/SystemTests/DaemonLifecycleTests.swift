import Foundation
import NotifyStore
import Postgres
import StackSupport
import Testing

@testable import notifyd

@Suite("notifyd as a process: start, ready, shutdown, refusals", .needsStack)
struct DaemonLifecycleTests {
    @Test("starts, logs ready, and exits 0 within 10 s of SIGTERM")
    func readyAndSigterm() async throws {
        let daemon = try DaemonProcess()
        #expect(await daemon.waitForLog("ready"), "log was: \(daemon.log)")
        let stopping = ContinuousClock.now
        daemon.signal(SIGTERM)
        let status = await daemon.waitForExit(timeout: .seconds(10))
        #expect(status == 0, "log was: \(daemon.log)")
        #expect(ContinuousClock.now - stopping < .seconds(10))
    }

    @Test("SIGINT stops it the same way")
    func sigint() async throws {
        let daemon = try DaemonProcess()
        #expect(await daemon.waitForLog("ready"))
        daemon.signal(SIGINT)
        #expect(await daemon.waitForExit(timeout: .seconds(10)) == 0)
    }

    @Test("an unreachable broker is one clear error naming it, and a non-zero exit")
    func unreachableBroker() async throws {
        let daemon = try DaemonProcess(environment: ["NOTIFY_AMQP_URL": "amqp://guest:secret-pw@127.0.0.1:5999/%2f"])
        let status = await daemon.waitForExit(timeout: .seconds(20))
        #expect(status != nil && status != 0)
        let errorLines = daemon.log.split(separator: "\n").filter { $0.contains("cannot start") }
        #expect(errorLines.count == 1, "log was: \(daemon.log)")
        #expect(errorLines.first?.contains("RabbitMQ at amqp://guest@127.0.0.1:5999") == true)
        #expect(!daemon.log.contains("secret-pw"))
        #expect(!daemon.log.contains("ready"))
    }

    @Test("an unreachable database is one clear error naming it, and a non-zero exit")
    func unreachableDatabase() async throws {
        let daemon = try DaemonProcess(environment: ["NOTIFY_POSTGRES_URL": "postgresql://svc:pg-secret@127.0.0.1:5998/notify"])
        let status = await daemon.waitForExit(timeout: .seconds(20))
        #expect(status != nil && status != 0)
        #expect(daemon.log.contains("PostgreSQL at 127.0.0.1:5998/notify"), "log was: \(daemon.log)")
        #expect(!daemon.log.contains("pg-secret"))
    }

    @Test(
        "bad configuration names the key and exits non-zero",
        arguments: [
            ("NOTIFY_AMQP_HEARTBEAT_SECONDS", "ten", "amqp.heartbeatSeconds"),
            ("NOTIFY_POSTGRES_POOL_SIZE", "0", "postgres.poolSize"),
            ("NOTIFY_AMQP_URL", "http://nowhere", "amqp.url"),
            ("NOTIFY_LOG_LEVEL", "loud", "log.level"),
        ])
    func badConfiguration(variable: String, value: String, key: String) async throws {
        let daemon = try DaemonProcess(environment: [variable: value])
        let status = await daemon.waitForExit(timeout: .seconds(20))
        #expect(status != nil && status != 0)
        #expect(daemon.log.contains("configuration key '\(key)'"), "log was: \(daemon.log)")
    }

    @Test("two daemons starting together on a fresh database apply each migration once, and both get ready")
    func racingStarts() async throws {
        let admin = PGPool(
            configuration: try PGConfiguration(url: DaemonProcess.stackEnvironment["NOTIFY_POSTGRES_URL"]!),
            logger: .init(label: "test"))
        let database = "race_\(UUID().uuidString.prefix(8).lowercased())"
        try await admin.withConnection { _ = try $0.execute(PGQuery(unsafeSQL: "CREATE DATABASE \(database)")) }
        let url = DaemonProcess.stackEnvironment["NOTIFY_POSTGRES_URL"]!.replacingOccurrences(of: "/notify_test", with: "/\(database)")

        let first = try DaemonProcess(environment: ["NOTIFY_POSTGRES_URL": url])
        let second = try DaemonProcess(environment: ["NOTIFY_POSTGRES_URL": url])
        #expect(await first.waitForLog("ready"), "log was: \(first.log)")
        #expect(await second.waitForLog("ready"), "log was: \(second.log)")
        let applications =
            first.log.components(separatedBy: "applied migration").count
            + second.log.components(separatedBy: "applied migration").count - 2
        #expect(applications == Migrations.count)
        first.signal(SIGTERM)
        second.signal(SIGTERM)
        #expect(await first.waitForExit() == 0)
        #expect(await second.waitForExit() == 0)

        let racePool = PGPool(configuration: try PGConfiguration(url: url), logger: .init(label: "test"))
        let rows = try await racePool.withConnection { try $0.query("SELECT version, count(*) OVER () FROM schema_migrations") }
        #expect(rows.count == Migrations.count)
        await racePool.close()
        try await admin.withConnection { _ = try $0.execute(PGQuery(unsafeSQL: "DROP DATABASE \(database)")) }
        await admin.close()
    }
}

extension Migrations {
    static var count: Int { all.count }
}
