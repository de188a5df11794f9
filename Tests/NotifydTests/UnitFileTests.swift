import Foundation
import TestSupport
import Testing
@testable import notifyd

@Suite("The systemd unit")
struct UnitFileTests {
    static let analyze = "/usr/bin/systemd-analyze"

    @Test("systemd-analyze security rates the unit OK or better",
          .enabled(if: FileManager.default.isExecutableFile(atPath: analyze), "needs systemd-analyze (Debian's systemd)"))
    func securityRating() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.analyze)
        process.arguments = ["security", "--offline=true", "--no-pager",
                             repositoryRoot.appendingPathComponent("deploy/systemd/notifyd.service").path]
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
        for line in ["Type=notify", "WatchdogSec=60", "CapabilityBoundingSet=", "SystemCallFilter=@system-service",
                     "LoadCredential=notify-amqp-url:", "LoadCredential=notify-postgres-url:", "MemoryDenyWriteExecute=yes"] {
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

    @Test("deploy/install.sh into a throwaway root: binaries, configuration and empty credentials with their modes, and the unit verifies there (systemd-analyze verify)",
          .enabled(if: FileManager.default.isExecutableFile(atPath: analyze), "needs systemd-analyze (Debian's systemd)"))
    func installerInThrowawayRoot() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("install-root-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: root) }
        let binaries = URL(fileURLWithPath: DaemonProcess.binary).deletingLastPathComponent().path
        for _ in 0..<2 {  // the second run keeps what is there
            let process = Process()
            process.executableURL = repositoryRoot.appendingPathComponent("deploy/install.sh")
            process.environment = ProcessInfo.processInfo.environment.merging(["DESTDIR": root.path, "BIN": binaries]) { $1 }
            let output = try runCapturingOutput(process)
            #expect(output.status == 0, "\(output.text)")
            #expect(output.text.contains("the unit verifies"), "\(output.text)")
        }
        let files = FileManager.default
        func mode(_ path: String) throws -> Int {
            try #require(files.attributesOfItem(atPath: root.path + path)[.posixPermissions] as? Int)
        }
        #expect(files.isExecutableFile(atPath: root.path + "/usr/local/bin/notifyd"))
        #expect(files.isExecutableFile(atPath: root.path + "/usr/local/bin/notifyctl"))
        #expect(files.fileExists(atPath: root.path + "/etc/flowmart-notify/notifyd.json"))
        #expect(files.fileExists(atPath: root.path + "/etc/flowmart-notify/templates"))
        #expect(try mode("/etc/flowmart-notify/credentials") == 0o700)
        for (file, _) in Credentials.files {
            #expect(try mode("/etc/flowmart-notify/credentials/\(file.dropFirst("notify-".count))") == 0o600, "\(file)")
        }
        #expect(try mode("/etc/flowmart-notify/notifyd.env") == 0o600)

        // Without the binary the unit names what is wrong: the check can fail.
        try files.removeItem(atPath: root.path + "/usr/local/bin/notifyd")
        let verify = Process()
        verify.executableURL = URL(fileURLWithPath: Self.analyze)
        verify.arguments = ["verify", "--man=no", "--root=\(root.path)", "/etc/systemd/system/notifyd.service"]
        let output = try runCapturingOutput(verify)
        #expect(output.status != 0 && output.text.contains("/usr/local/bin/notifyd"), "\(output.text)")
    }
}
