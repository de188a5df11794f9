import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Between the HTTP/1 parser and Hummingbird on every connection of the listener: what a caller sends is read only
/// as far as it is wanted, and no caller holds a connection by sending slowly.
///
/// - A request's body is not read until its route asks for it (`RequestGate.Release`, which `RequestBodies` sends
///   once the caller was authenticated and the body fits the budget). Until then the connection reads nothing
///   more, so a body that is refused costs at most what arrived with the headers: one read of at most 16 KiB.
/// - A response that says `Connection: close` (a refusal sent before the body was read) closes the connection once
///   written, dropping what arrived of the body; Hummingbird would otherwise read all of it to reach the next request.
/// - A request whose body has not arrived whole within `readTimeout` of reading it closes the connection. The clock
///   runs only while the gate reads the body: not while it holds it for the route (which may wait for a database
///   connection to check the key), so a slow server never cuts off a prompt client.
/// - A route that answers without asking for the body (a health check) lets the rest of it through once its response
///   ended, as before.
/// - A connection's first request must have sent its headers `firstRequestTimeout` after the connection opened: a
///   stranger holding connections open without a word holds each for seconds, not for the idle timeout that spares
///   a client's keep-alive connection between requests.
final class RequestGate: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// The outbound user event a route sends through its channel to have the request's body read.
    struct Release: Sendable {}

    /// The most one read of the socket takes (NIO grows its buffer up to 64 KiB and reads up to four times per
    /// wake-up by default): what a refused body may cost before the gate closes.
    static let maxReadBytes = 16 * 1024

    private let readTimeout: TimeAmount
    /// Parts that arrived while a body is held, in order (at most one read's worth: reading stops while holding).
    private var held = CircularBuffer<HTTPRequestPart>()
    private var holding = false
    /// Hummingbird asked for more while the gate held the body: the read to issue once it lets go.
    private var readWanted = false
    private var closing = false
    /// A request's head with a body arrived and its end has not: its body is on its way.
    private var bodyPending = false
    private var deadline: Scheduled<Void>?
    /// Until the first request's head arrived: the connection closes when it fires.
    private var firstHead: Scheduled<Void>?
    static let firstRequestTimeout = TimeAmount.seconds(10)
    /// Request heads passed on and responses ended: a response ends its own request's hold, not a later one's (a
    /// pipelined request's head may have been passed on already).
    private var requests = 0
    private var responses = 0

    init(readTimeout: TimeAmount) {
        self.readTimeout = readTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        firstHead = context.eventLoop.assumeIsolated().scheduleTask(in: Self.firstRequestTimeout) { context.close(promise: nil) }
        guard let options = context.channel.syncOptions else { return }
        try? options.setOption(ChannelOptions.maxMessagesPerRead, value: 1)
        try? options.setOption(
            ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: Self.maxReadBytes))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimers()
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimers()
        context.fireChannelInactive()
    }

    private func stopTimers() {
        deadline?.cancel()
        deadline = nil
        firstHead?.cancel()
        firstHead = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head(let head):
            bodyPending = Self.hasBody(head)
            firstHead?.cancel()
            firstHead = nil
        case .end: bodyPending = false
        case .body: break
        }
        if !closing {
            if holding {
                held.append(part)
            } else {
                deliver(part, context: context)
            }
        }
        timeBody(context: context)
    }

    /// Runs the read timeout while a body is on its way and the gate reads it; stops it otherwise.
    private func timeBody(context: ChannelHandlerContext) {
        guard bodyPending, !holding, !closing else {
            deadline?.cancel()
            deadline = nil
            return
        }
        if deadline == nil {
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: readTimeout) { context.close(promise: nil) }
        }
    }

    func read(context: ChannelHandlerContext) {
        guard !holding, !closing else {
            readWanted = true
            return
        }
        context.read()
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is Release else { return context.triggerUserOutboundEvent(event, promise: promise) }
        release(context: context)
        promise?.succeed(())
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let response):
            if response.headerFields[.connection]?.lowercased() == "close" {
                closing = true
                held.removeAll()
            }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            responses += 1
            guard closing else {
                context.write(data, promise: promise)
                if responses == requests { release(context: context) }
                return
            }
            let written = context.writeAndFlush(data)
            written.cascade(to: promise)
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }

    /// Passes `part` on; a request head whose body is still to come makes the gate hold what follows.
    private func deliver(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        if case .head(let head) = part {
            requests += 1
            holding = Self.hasBody(head)
        }
        context.fireChannelRead(wrapInboundOut(part))
    }

    /// Lets the held body through and reads on, until the next request's head that has a body.
    private func release(context: ChannelHandlerContext) {
        guard holding, !closing else { return }
        holding = false
        var delivered = false
        while !holding, let part = held.popFirst() {
            deliver(part, context: context)
            delivered = true
        }
        // Hummingbird's end of the pipeline passes reads on when a read completes.
        if delivered { context.fireChannelReadComplete() }
        if !holding, readWanted {
            readWanted = false
            context.read()
        }
        timeBody(context: context)
    }

    /// Whether a body follows `head`: a length above zero, or chunks.
    static func hasBody(_ head: HTTPRequest) -> Bool {
        head.headerFields[.transferEncoding] != nil || (head.headerFields[.contentLength].flatMap { Int($0) } ?? 0) > 0
    }
}
