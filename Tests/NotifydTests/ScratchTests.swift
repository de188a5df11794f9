import Foundation
import TestSupport
import Testing

@Suite("scratch")
struct ScratchTests {
    @Test("body request")
    func body() async throws {
        let (service, port) = try await SendHTTPTests.service()
        defer { Task { await service.shutDown() } }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        p.arguments = ["-sv", "--max-time", "5", "-H", "x-api-key: \(service.slot.adminKey)", "-H", "content-type: application/json",
                       "--data", #"{"product": {"name": "Web shop", "active": true}}"#, "http://127.0.0.1:\(port)/v1/products"]
        try p.run()
        p.waitUntilExit()
        print(service.daemon.log.suffix(2000))
    }
}
