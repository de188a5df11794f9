import AMQP
import Foundation
import Testing

@Suite("AMQP RPC over direct reply-to", .needsStack)
struct RPCTests {
    @Test("a request is answered on its reply_to with the same correlation id and headers")
    func requestReply() async throws {
        let server = try await TestStack.connect("test-rpc-server")
        let queue = try await TestStack.freshQueue("rpc", on: server)
        let requests = try await server.consume(queue: queue, prefetch: 10)
        let client = try await AMQPRPCClient(connection: try await TestStack.connect("test-rpc-client"))

        async let served: Void = {
            for await request in requests {
                let answered = server.reply(
                    to: request, body: Array("echo:".utf8) + request.body, headers: ["status": 200])
                #expect(answered)
                server.ack(request)
            }
        }()
        for index in 0..<20 {
            let reply = try await client.call(queue: queue, type: "Echo", body: Array("n\(index)".utf8))
            #expect(String(decoding: reply.body, as: UTF8.self) == "echo:n\(index)")
            #expect(reply.properties.headers["status"] == 200)
            #expect(reply.properties.contentType == "application/json")
        }
        try await server.cancel(requests)
        await served
        try await server.deleteQueue(queue)
        await server.close()
    }

    @Test("a call nobody answers fails with a timeout error, not a hang")
    func unansweredCallTimesOut() async throws {
        let connection = try await TestStack.connect("test-rpc-timeout")
        let queue = try await TestStack.freshQueue("rpc-silent", on: connection)
        let client = try await AMQPRPCClient(connection: connection)
        let started = ContinuousClock.now
        await #expect(throws: AMQPError.self) {
            _ = try await client.call(queue: queue, type: "Nobody", body: [], timeout: .milliseconds(300))
        }
        #expect(ContinuousClock.now - started < .seconds(2))
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test("a call on a closed connection fails at once as closed, not as a timeout")
    func callOnClosedConnection() async throws {
        let connection = try await TestStack.connect("test-rpc-closed")
        let client = try await AMQPRPCClient(connection: connection)
        await connection.close()
        let started = ContinuousClock.now
        do {
            _ = try await client.call(queue: "anything", type: "Nobody", body: [], timeout: .seconds(5))
            Issue.record("the call should fail")
        } catch {
            #expect(error.code == .closed)
        }
        #expect(ContinuousClock.now - started < .seconds(1))
    }
}
