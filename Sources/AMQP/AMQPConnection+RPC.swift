import Foundation

extension AMQPConnection {
    /// Answers an RPC request: publishes `body` to the request's `reply_to` through the default exchange, with its
    /// `correlation_id`, without `mandatory` (a direct reply-to must not be mandatory) and without waiting for a
    /// confirm. Returns false, sending nothing, when the request named no `reply_to`.
    /// - Parameter acknowledging: also ack the request, in the same turn of the connection thread, after the reply.
    @discardableResult
    public func reply(
        to request: AMQPDelivery, body: [UInt8], headers: [String: AMQPFieldValue] = [:],
        contentType: String = "application/json", acknowledging: Bool = false
    ) -> Bool {
        let ack = ConnectionLoop.Command.settle(.init(request, .ack(multiple: false)))
        guard let replyTo = request.properties.replyTo, !replyTo.isEmpty else {
            if acknowledging { submit([ack]) }
            return false
        }
        var properties = AMQPProperties(
            contentType: contentType, headers: headers, persistent: false,
            correlationID: request.properties.correlationID)
        properties.type = request.properties.type
        let message = ConnectionLoop.Command.send(
            AMQPOutgoingMessage(exchange: "", routingKey: replyTo, body: body, properties: properties))
        submit(acknowledging ? [message, ack] : [message])
        return true
    }
}

/// Calls RPC servers over RabbitMQ's direct reply-to (`amq.rabbitmq.reply-to`): no reply queue to declare or clean
/// up. Replies are matched by `correlation_id` on the connection's own thread, which also enforces the timeouts,
/// so a call costs one continuation and no extra task; a reply that arrives after its call timed out is dropped.
public final class AMQPRPCClient: Sendable {
    static let replyQueue = "amq.rabbitmq.reply-to"

    private let connection: AMQPConnection

    /// Subscribes `connection` to direct reply-to. Direct reply-to requires the consumer and the requests to share
    /// a channel, which holds here: an `AMQPConnection` has exactly one.
    public init(connection: AMQPConnection) async throws(AMQPError) {
        self.connection = connection
        try await connection.consumeReplies(queue: Self.replyQueue)
    }

    /// Sends a request to `queue` and waits for its reply.
    /// - Parameters:
    ///   - type: the AMQP `type` property, which names the query (e.g. `GetUserNotifications`).
    /// - Throws: `.timeout` when no reply arrives in time (the server is down, slow, or lost the request);
    ///   `.connectionLost` or `.closed` when the request could not be sent.
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
        do {
            return try await connection.call(request, correlationID: id, deadline: .now + timeout)
        } catch  where error.code == .timeout {
            throw AMQPError(.timeout, "no reply to \(type) from '\(queue)' within \(timeout)")
        }
    }
}
