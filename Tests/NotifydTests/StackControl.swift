import Foundation

/// Broker and database controls for fault tests, through the local stack script (`deploy/dev/stack`).
enum StackControl {
    @discardableResult
    static func run(_ arguments: [String]) throws -> Int32 {
        let process = Process()
        process.executableURL = DaemonProcess.repositoryRoot.appendingPathComponent("deploy/dev/stack")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }

    @discardableResult
    static func rabbitmqctl(_ arguments: String...) throws -> Int32 {
        try run(["rabbitmqctl"] + arguments)
    }

    static func stopPostgres() throws { try run(["postgres-stop"]) }
    static func startPostgres() throws { try run(["postgres-start"]) }
}
