import Foundation

/// Runs `process` to its end with its standard output and error in one pipe: its exit status and everything it
/// printed, for a test that checks a tool's verdict (systemd-analyze, schemathesis).
public func runCapturingOutput(_ process: Process) throws -> (status: Int32, text: String) {
    let output = Pipe()
    process.standardOutput = output
    process.standardError = output
    try process.run()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text)
}
