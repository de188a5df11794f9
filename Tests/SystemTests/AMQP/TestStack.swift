import AMQP
import Foundation
import Logging
import StackSupport

/// Where the local stack started by `deploy/dev/stack up` listens; `make test` exports these.
enum TestStack {
    static let amqpURL = StackURLs.amqp

    static var logger: Logger {
        var logger = Logger(label: "amqp-tests")
        logger.logLevel = .warning
        return logger
    }

    static func configuration(_ name: String) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: amqpURL)
        configuration.connectionName = name
        configuration.heartbeat = .seconds(5)
        return configuration
    }

    static func connect(_ name: String, confirmMode: Bool = false) async throws -> AMQPConnection {
        let connection = AMQPConnection(configuration: try configuration(name), confirmMode: confirmMode, logger: logger)
        try await connection.connect()
        return connection
    }

    /// A fresh, empty, durable queue with a name no other test uses.
    static func freshQueue(_ prefix: String, on connection: AMQPConnection) async throws -> String {
        let name = "test.\(prefix).\(UUID().uuidString.prefix(8))"
        try await connection.declare(AMQPTopology(queues: [.init(name: name, durable: true)]))
        return name
    }

    static func message(to queue: String, _ index: Int, size: Int = 200) -> AMQPOutgoingMessage {
        var body = Array("{\"n\":\(index),\"pad\":\"".utf8)
        body += Array(repeating: UInt8(ascii: "x"), count: max(0, size - body.count - 2)) + Array("\"}".utf8)
        return AMQPOutgoingMessage(
            routingKey: queue, body: body,
            properties: AMQPProperties(contentType: "application/json", persistent: true, messageID: "m-\(index)"))
    }
}
