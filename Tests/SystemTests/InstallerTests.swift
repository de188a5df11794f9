import Foundation
import StackSupport
import Testing

@testable import notifyd

/// The installer with the binaries this build made (beside `NOTIFYD_BIN`), into a root of its own.
@Suite("The installer", .needsStack)
struct InstallerTests {
    static let analyze = "/usr/bin/systemd-analyze"

    @Test(
        "deploy/install.sh into a throwaway root: binaries, configuration and empty credentials with their modes, and the unit verifies there (systemd-analyze verify)",
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
