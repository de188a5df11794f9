import CRabbitMQ
import Foundation

/// One live librabbitmq connection with one channel. Confined to its owner thread: librabbitmq is not thread-safe.
/// A session never recovers; on any error the owner destroys it and opens a new one.
final class CSession {
    static let channel: amqp_channel_t = 1

    let connection: amqp_connection_state_t
    /// Bound on waiting for the next frame of a message whose first frame has arrived.
    private let rpcTimeout: timeval
    /// Scratch pool for encoding outgoing properties and tables; recycled after every call.
    private let pool = CPool()

    /// Opens the socket, logs in advertising `consumer_cancel_notify` and `connection.blocked`, opens channel 1
    /// and, when asked, puts it in confirm mode.
    init(configuration: AMQPConfiguration, endpoint: AMQPEndpoint, confirmMode: Bool) throws(AMQPError) {
        guard let connection = amqp_new_connection() else {
            throw AMQPError(.connectionFailed, "librabbitmq could not allocate a connection")
        }
        self.connection = connection
        rpcTimeout = timeval(configuration.rpcTimeout)
        let target = "\(endpoint.host):\(endpoint.port)"
        let socket: OpaquePointer?
        if endpoint.tls {
            socket = amqp_ssl_socket_new(connection)
            if let socket {
                amqp_ssl_socket_set_verify_peer(socket, 1)
                amqp_ssl_socket_set_verify_hostname(socket, 1)
                _ = amqp_ssl_socket_set_ssl_versions(socket, AMQP_TLSv1_2, AMQP_TLSvLATEST)
                if let ca = configuration.caCertificatePath, amqp_ssl_socket_set_cacert(socket, ca) != 0 {
                    throw AMQPError(.invalidConfiguration, "cannot read the CA certificate file for TLS")
                }
                if let cert = configuration.clientCertificatePath, let key = configuration.clientKeyPath,
                    amqp_ssl_socket_set_key(socket, cert, key) != 0
                {
                    throw AMQPError(.invalidConfiguration, "cannot read the client certificate or key for TLS")
                }
            }
        } else {
            socket = amqp_tcp_socket_new(connection)
        }
        guard let socket else { throw AMQPError(.connectionFailed, "cannot create a socket for \(target)") }

        var connectTimeout = timeval(configuration.connectTimeout)
        let opened = amqp_socket_open_noblock(socket, endpoint.host, Int32(endpoint.port), &connectTimeout)
        guard opened == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionFailed, "cannot connect to \(target): \(CDecoding.libraryError(opened))")
        }
        var methodTimeout = rpcTimeout
        amqp_set_handshake_timeout(connection, &connectTimeout)
        amqp_set_rpc_timeout(connection, &methodTimeout)

        var clientProperties = pool.table([
            "connection_name": .string(configuration.connectionName),
            "product": "flowmart-notify",
            "capabilities": .table([
                "consumer_cancel_notify": true,
                "connection.blocked": true,
                "authentication_failure_close": true,
                "publisher_confirms": true,
            ]),
        ])
        let heartbeat = Int32(configuration.heartbeat.components.seconds)
        let login = notify_amqp_login_plain(
            connection, endpoint.vhost, 0, 131_072, heartbeat, &clientProperties, endpoint.user, endpoint.password)
        pool.recycle()
        if login.reply_type != AMQP_RESPONSE_NORMAL {
            let error = Self.error(login, "login to \(target) vhost '\(endpoint.vhost)'")
            if error.replyCode == 403 || login.library_error == AMQP_STATUS_CONNECTION_CLOSED.rawValue {
                throw AMQPError(
                    .accessRefused, "broker at \(target) refused user '\(endpoint.user)' on vhost '\(endpoint.vhost)'", replyCode: 403)
            }
            throw AMQPError(.connectionFailed, error.reason, replyCode: error.replyCode)
        }
        amqp_channel_open(connection, Self.channel)
        try check("channel.open")
        if confirmMode {
            amqp_confirm_select(connection, Self.channel)
            try check("confirm.select")
        }
    }

    deinit {
        amqp_destroy_connection(connection)
    }

    /// Closes channel and connection politely, bounded by the RPC timeout; errors are irrelevant at this point.
    func close() {
        _ = amqp_channel_close(connection, Self.channel, AMQP_REPLY_SUCCESS)
        _ = amqp_connection_close(connection, AMQP_REPLY_SUCCESS)
    }

    var socketFD: Int32 { amqp_get_sockfd(connection) }

    /// True when librabbitmq queued frames during a synchronous call; `poll` on the socket would not see them.
    var hasQueuedFrames: Bool { amqp_frames_enqueued(connection) != 0 }

    // MARK: - Synchronous methods

    func declare(_ topology: AMQPTopology) throws(AMQPError) {
        for exchange in topology.exchanges {
            amqp_exchange_declare(
                connection, Self.channel, pool.bytes(exchange.name), pool.bytes(exchange.type), 0,
                exchange.durable ? 1 : 0, 0, 0, amqp_empty_table)
            pool.recycle()
            try check("exchange.declare '\(exchange.name)'")
        }
        for queue in topology.queues {
            amqp_queue_declare(
                connection, Self.channel, pool.bytes(queue.name), 0, queue.durable ? 1 : 0,
                queue.exclusive ? 1 : 0, queue.autoDelete ? 1 : 0, pool.table(queue.arguments))
            pool.recycle()
            try check("queue.declare '\(queue.name)'")
        }
        for binding in topology.bindings {
            amqp_queue_bind(
                connection, Self.channel, pool.bytes(binding.queue), pool.bytes(binding.exchange),
                pool.bytes(binding.routingKey), amqp_empty_table)
            pool.recycle()
            try check("queue.bind '\(binding.queue)' to '\(binding.exchange)'")
        }
    }

    func queueStatus(_ name: String) throws(AMQPError) -> AMQPQueueStatus {
        let ok = amqp_queue_declare(connection, Self.channel, pool.bytes(name), 1, 0, 0, 0, amqp_empty_table)
        pool.recycle()
        try check("queue.declare (passive) '\(name)'")
        guard let ok else { throw AMQPError(.connectionLost, "queue.declare '\(name)' returned no result") }
        return AMQPQueueStatus(name: name, messageCount: ok.pointee.message_count, consumerCount: ok.pointee.consumer_count)
    }

    func purge(_ name: String) throws(AMQPError) -> UInt32 {
        let ok = amqp_queue_purge(connection, Self.channel, pool.bytes(name))
        pool.recycle()
        try check("queue.purge '\(name)'")
        return ok?.pointee.message_count ?? 0
    }

    func deleteQueue(_ name: String) throws(AMQPError) {
        amqp_queue_delete(connection, Self.channel, pool.bytes(name), 0, 0)
        pool.recycle()
        try check("queue.delete '\(name)'")
    }

    func consume(queue: String, tag: String, prefetch: UInt16, noAck: Bool) throws(AMQPError) {
        if !noAck {
            amqp_basic_qos(connection, Self.channel, 0, prefetch, 0)
            try check("basic.qos")
        }
        amqp_basic_consume(
            connection, Self.channel, pool.bytes(queue), pool.bytes(tag), 0, noAck ? 1 : 0, 0, amqp_empty_table)
        pool.recycle()
        try check("basic.consume '\(queue)'")
    }

    func cancel(tag: String) throws(AMQPError) {
        amqp_basic_cancel(connection, Self.channel, pool.bytes(tag))
        pool.recycle()
        try check("basic.cancel")
    }

    // MARK: - Asynchronous methods (no reply from the broker)

    func publish(_ message: AMQPOutgoingMessage) throws(AMQPError) {
        defer { pool.recycle() }
        var properties = pool.properties(message.properties)
        let status = message.body.withUnsafeBytes { body in
            amqp_basic_publish(
                connection, Self.channel, pool.bytes(message.exchange), pool.bytes(message.routingKey),
                message.mandatory ? 1 : 0, 0,
                &properties, amqp_bytes_t(len: body.count, bytes: UnsafeMutableRawPointer(mutating: body.baseAddress)))
        }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "basic.publish: \(CDecoding.libraryError(status))")
        }
    }

    func ack(_ tag: UInt64, multiple: Bool) throws(AMQPError) {
        try status(amqp_basic_ack(connection, Self.channel, tag, multiple ? 1 : 0), "basic.ack")
    }

    func nack(_ tag: UInt64, multiple: Bool, requeue: Bool) throws(AMQPError) {
        try status(amqp_basic_nack(connection, Self.channel, tag, multiple ? 1 : 0, requeue ? 1 : 0), "basic.nack")
    }

    func reject(_ tag: UInt64, requeue: Bool) throws(AMQPError) {
        try status(amqp_basic_reject(connection, Self.channel, tag, requeue ? 1 : 0), "basic.reject")
    }

    // MARK: - Reading

    /// What one inbound frame meant.
    enum Inbound {
        case delivery(
            tag: UInt64, redelivered: Bool, exchange: String, routingKey: String, consumerTag: String,
            properties: AMQPProperties, body: Body)
        case confirm(tag: UInt64, multiple: Bool, acked: Bool)
        case cancelled(consumerTag: String)
        case blocked(Bool)
        /// A mandatory message no queue took; identified by what it was published with.
        case returned(exchange: String, routingKey: String, messageID: String?)
        case other
    }

    /// A message body: read, or left unread because it was larger than the consumer takes.
    enum Body {
        case read([UInt8])
        case omitted(size: Int)
    }

    /// Decides, from a delivery's consumer tag, delivery tag and body size (from the content header, before any
    /// body frame is read), whether its body is read into memory.
    typealias BodyPolicy = (_ consumerTag: String, _ deliveryTag: UInt64, _ size: Int) -> Bool

    /// Reads one frame if one is available right now; also sends a heartbeat when one is due and notices a
    /// missed broker heartbeat. Returns nil when nothing is waiting.
    func readFrame(accept: BodyPolicy) throws(AMQPError) -> Inbound? {
        var frame = amqp_frame_t()
        var zero = timeval(tv_sec: 0, tv_usec: 0)
        let status = amqp_simple_wait_frame_noblock(connection, &frame, &zero)
        if status == AMQP_STATUS_TIMEOUT.rawValue { return nil }
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "reading from the broker: \(CDecoding.libraryError(status))")
        }
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return .other }
        let method = frame.payload.method
        switch method.id {
        case AMQP_BASIC_DELIVER_METHOD:
            let deliver = method.decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            // Copy before reading the content: the decoded method lives in a pool the next read may reuse.
            let tag = deliver.delivery_tag
            let redelivered = deliver.redelivered != 0
            let exchange = CDecoding.string(deliver.exchange)
            let routingKey = CDecoding.string(deliver.routing_key)
            let consumerTag = CDecoding.string(deliver.consumer_tag)
            let (properties, body) = try readContent(channel: frame.channel) { accept(consumerTag, tag, $0) }
            return .delivery(
                tag: tag, redelivered: redelivered, exchange: exchange, routingKey: routingKey,
                consumerTag: consumerTag, properties: properties, body: body)
        case AMQP_BASIC_ACK_METHOD:
            let ack = method.decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            return .confirm(tag: ack.delivery_tag, multiple: ack.multiple != 0, acked: true)
        case AMQP_BASIC_NACK_METHOD:
            let nack = method.decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            return .confirm(tag: nack.delivery_tag, multiple: nack.multiple != 0, acked: false)
        case AMQP_BASIC_CANCEL_METHOD:
            let cancel = method.decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            return .cancelled(consumerTag: CDecoding.string(cancel.consumer_tag))
        case AMQP_BASIC_RETURN_METHOD:
            let returned = method.decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let exchange = CDecoding.string(returned.exchange)
            let routingKey = CDecoding.string(returned.routing_key)
            let (properties, _) = try readContent(channel: frame.channel) { _ in false }
            return .returned(exchange: exchange, routingKey: routingKey, messageID: properties.messageID)
        case AMQP_CONNECTION_BLOCKED_METHOD:
            return .blocked(true)
        case AMQP_CONNECTION_UNBLOCKED_METHOD:
            return .blocked(false)
        case AMQP_CHANNEL_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            throw AMQPError(
                .connectionLost, "broker closed the channel: \(CDecoding.string(close.reply_text))",
                replyCode: close.reply_code)
        case AMQP_CONNECTION_CLOSE_METHOD:
            let close = method.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            throw AMQPError(
                .connectionLost, "broker closed the connection: \(CDecoding.string(close.reply_text))",
                replyCode: close.reply_code)
        default:
            return .other
        }
    }

    /// Releases decoded-frame memory when librabbitmq holds no partial state; once per loop turn.
    func releaseBuffers() { amqp_maybe_release_buffers(connection) }

    /// Reads a message's content header, then its body frames. The size is known from the header before any body
    /// frame arrives: a body `accept` declines is read frame by frame and dropped, so a huge message never sits in
    /// memory. Waits for each frame at most the RPC timeout (the broker sends them back to back).
    private func readContent(channel: amqp_channel_t, accept: (Int) -> Bool) throws(AMQPError) -> (AMQPProperties, Body) {
        let header = try nextContentFrame(channel: channel, type: AMQP_FRAME_HEADER)
        let properties = CDecoding.properties(
            header.payload.properties.decoded.assumingMemoryBound(to: amqp_basic_properties_t.self).pointee)
        let size = Int(exactly: header.payload.properties.body_size) ?? Int.max
        let keep = size < Int.max && accept(size)
        var body: [UInt8] = []
        if keep { body.reserveCapacity(size) }
        var received = 0
        while received < size {
            let fragment = try nextContentFrame(channel: channel, type: AMQP_FRAME_BODY).payload.body_fragment
            guard fragment.len > 0, fragment.len <= size - received else {
                throw AMQPError(.connectionLost, "reading message content: body frames do not match the announced size")
            }
            received += fragment.len
            if keep { body += UnsafeRawBufferPointer(start: fragment.bytes, count: fragment.len) }
        }
        return (properties, keep ? .read(body) : .omitted(size: size))
    }

    private func nextContentFrame(channel: amqp_channel_t, type: Int32) throws(AMQPError) -> amqp_frame_t {
        var frame = amqp_frame_t()
        var timeout = rpcTimeout
        let status = amqp_simple_wait_frame_noblock(connection, &frame, &timeout)
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "reading message content: \(CDecoding.libraryError(status))")
        }
        guard frame.channel == channel, frame.frame_type == UInt8(type) else {
            throw AMQPError(.connectionLost, "reading message content: unexpected frame \(frame.frame_type) on channel \(frame.channel)")
        }
        return frame
    }

    // MARK: - Errors

    private func check(_ what: String) throws(AMQPError) {
        let reply = amqp_get_rpc_reply(connection)
        guard reply.reply_type == AMQP_RESPONSE_NORMAL else { throw Self.error(reply, what) }
    }

    private func status(_ status: Int32, _ what: String) throws(AMQPError) {
        guard status == AMQP_STATUS_OK.rawValue else {
            throw AMQPError(.connectionLost, "\(what): \(CDecoding.libraryError(status))")
        }
    }

    /// Maps a failed RPC reply: a channel-level refusal (404, 406, 403) is the caller's problem; anything else
    /// means the connection is gone.
    static func error(_ reply: amqp_rpc_reply_t, _ what: String) -> AMQPError {
        switch reply.reply_type {
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            return AMQPError(.connectionLost, "\(what): \(CDecoding.libraryError(reply.library_error))")
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            if reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
                return AMQPError(
                    .operationRefused, "\(what): \(CDecoding.string(close.reply_text))",
                    replyCode: close.reply_code)
            }
            if reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD {
                let close = reply.reply.decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
                return AMQPError(
                    .connectionLost, "\(what): \(CDecoding.string(close.reply_text))",
                    replyCode: close.reply_code)
            }
            return AMQPError(.connectionLost, "\(what): unexpected server method \(reply.reply.id)")
        default:
            return AMQPError(.connectionLost, "\(what): no reply from the broker")
        }
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        self.init(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
    }
}
