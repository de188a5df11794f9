import Foundation
import StackSupport
import Testing

@testable import notifyd

@Suite("The systemd unit")
struct UnitFileTests {
    static let analyze = "/usr/bin/systemd-analyze"

    @Test(
        "systemd-analyze security rates the unit OK or better",
        .enabled(if: FileManager.default.isExecutableFile(atPath: analyze), "needs systemd-analyze (Debian's systemd)"))
    func securityRating() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.analyze)
        process.arguments = [
            "security", "--offline=true", "--no-pager",
            repositoryRoot.appendingPathComponent("deploy/systemd/notifyd.service").path,
        ]
        let text = try runCapturingOutput(process).text
        let overall = try #require(text.split(separator: "\n").first { $0.contains("Overall exposure level") }, "\(text)")
        let words = overall.split(separator: " ")
        let level = try #require(words.firstIndex { Double($0) != nil }.map { Double(words[$0])! })
        #expect(level < 2.0, "\(overall)")
        #expect(["PERFECT", "SAFE", "OK"].contains { overall.contains($0) }, "\(overall)")
    }

    @Test("the unit has a watchdog, an empty capability set and every secret notifyd reads as a credential")
    func essentials() throws {
        let unit = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/systemd/notifyd.service"), encoding: .utf8)
        for line in [
            "Type=notify", "WatchdogSec=60", "CapabilityBoundingSet=", "SystemCallFilter=@system-service",
            "LoadCredential=notify-amqp-url:", "LoadCredential=notify-postgres-url:", "MemoryDenyWriteExecute=yes",
        ] {
            #expect(unit.contains("\n" + line), "missing \(line)")
        }
        for (file, _) in Credentials.files {
            #expect(unit.contains("\nLoadCredential=\(file):"), "missing the credential \(file)")
        }
        let installer = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/install.sh"), encoding: .utf8)
        for (file, _) in Credentials.files {
            let name = " " + file.dropFirst("notify-".count)
            #expect(installer.contains(name + " ") || installer.contains(name + ";"), "the installer does not create \(file)")
        }
    }
}
