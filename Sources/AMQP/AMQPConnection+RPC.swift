import Foundation
import Synchronization

extension AMQPConnection {
    /// Answers an RPC request: publishes `body` to the request's `reply_to` through the default exchange, with its
    /// `correlation_id`, without `mandatory` (a direct reply-to must not be mandatory) and without waiting for a
    /// confirm. Returns false, sending nothing, when the request named no `reply_to`.
    @discardableResult
    public func reply(
        to request: AMQPDelivery, body: [UInt8], headers: [String: AMQPFieldValue] = [:],
        contentType: String = "application/json"
    ) -> Bool {
        guard let replyTo = request.properties.replyTo, !replyTo.isEmpty else { return false }
        var properties = AMQPProperties(
            contentType: contentType, headers: headers, persistent: false,
            correlationID: request.properties.correlationID)
        properties.type = request.properties.type
        send(AMQPOutgoingMessage(exchange: "", routingKey: replyTo, body: body, properties: properties))
        return true
    }
}

/// Calls RPC servers over RabbitMQ's direct reply-to (`amq.rabbitmq.reply-to`): no reply queue to declare or clean
/// up. Replies are matched by `correlation_id`; a reply that arrives after its call timed out is discarded.
public final class AMQPRPCClient: Sendable {
    static let replyQueue = "amq.rabbitmq.reply-to"

    private let connection: AMQPConnection
    private let waiting = Waiters()

    /// Subscribes `connection` to direct reply-to. Direct reply-to requires the consumer and the requests to share
    /// a channel, which holds here: an `AMQPConnection` has exactly one.
    public init(connection: AMQPConnection) async throws(AMQPError) {
        self.connection = connection
        let waiting = waiting
        try await connection.consume(
            queue: Self.replyQueue, tag: "rpc-replies.\(UUID().uuidString.prefix(8))", prefetch: 0, noAck: true,
            deliver: { reply in
                guard let id = reply.properties.correlationID else { return }
                waiting.resolve(id, with: reply)
            },
            flush: {}, finish: { waiting.resolveAll() })
    }

    /// Sends a request to `queue` and waits for its reply.
    /// - Parameters:
    ///   - type: the AMQP `type` property, which names the query (e.g. `GetUserNotifications`).
    /// - Throws: `.timeout` when no reply arrives in time (the server is down, slow, or lost the request).
    public func call(
        queue: String, type: String, body: [UInt8], headers: [String: AMQPFieldValue] = [:],
        timeout: Duration = .seconds(2)
    ) async throws(AMQPError) -> AMQPDelivery {
        let id = UUID().uuidString
        var properties = AMQPProperties(
            contentType: "application/json", headers: headers, persistent: false, correlationID: id,
            replyTo: Self.replyQueue, messageID: id, type: type)
        properties.timestamp = UInt64(Date().timeIntervalSince1970)
        let request = AMQPOutgoingMessage(exchange: "", routingKey: queue, body: body, properties: properties)
        let waiting = waiting
        let connection = connection
        let reply: AMQPDelivery? = await withTaskGroup(of: AMQPDelivery?.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    waiting.register(id, continuation)
                    connection.send(request)
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                waiting.resolve(id, with: nil)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first
        }
        guard let reply else {
            throw AMQPError(.timeout, "no reply to \(type) from '\(queue)' within \(timeout)")
        }
        return reply
    }
}

/// Calls waiting for their reply, by correlation id. Whoever resolves an id first (reply, timeout, close) wins.
private final class Waiters: Sendable {
    private let table = Mutex<[String: CheckedContinuation<AMQPDelivery?, Never>]>([:])

    func register(_ id: String, _ continuation: CheckedContinuation<AMQPDelivery?, Never>) {
        table.withLock { $0[id] = continuation }
    }

    func resolve(_ id: String, with reply: AMQPDelivery?) {
        table.withLock { $0.removeValue(forKey: id) }?.resume(returning: reply)
    }

    func resolveAll() {
        let all = table.withLock { table in
            defer { table.removeAll() }
            return Array(table.values)
        }
        for continuation in all { continuation.resume(returning: nil) }
    }
}
