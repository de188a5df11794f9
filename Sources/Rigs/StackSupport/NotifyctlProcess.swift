import Foundation

/// Runs the `notifyctl` built beside `notifyd`, as an operator would, and collects what it printed.
public enum NotifyctlProcess {
    /// Exit status and output (stdout and stderr together); `environment` is added to this process's own.
    public static func run(_ arguments: [String], _ environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: DaemonProcess.binary).deletingLastPathComponent().appendingPathComponent("notifyctl")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let (status, output) = try runCapturingOutput(process)
        return (status, output)
    }
}
