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
/// - A request whose body has not arrived whole `readTimeout` after its headers closes the connection.
/// - A route that answers without asking for the body (a health check) lets the rest of it through once its response
///   ended, as before.
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
    private var deadline: Scheduled<Void>?
    /// Request heads passed on and responses ended: a response ends its own request's hold, not a later one's (a
    /// pipelined request's head may have been passed on already).
    private var requests = 0
    private var responses = 0

    init(readTimeout: TimeAmount) {
        self.readTimeout = readTimeout
    }

    func handlerAdded(context: ChannelHandlerContext) {
        guard let options = context.channel.syncOptions else { return }
        try? options.setOption(ChannelOptions.maxMessagesPerRead, value: 1)
        try? options.setOption(
            ChannelOptions.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 64, initial: 2048, maximum: Self.maxReadBytes))
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        deadline?.cancel()
        deadline = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        switch part {
        case .head:
            deadline?.cancel()
            deadline = context.eventLoop.assumeIsolated().scheduleTask(in: readTimeout) { context.close(promise: nil) }
        case .end:
            deadline?.cancel()
            deadline = nil
        case .body:
            break
        }
        if closing { return }
        if holding {
            held.append(part)
        } else {
            deliver(part, context: context)
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
    }

    /// Whether a body follows `head`: a length above zero, or chunks.
    static func hasBody(_ head: HTTPRequest) -> Bool {
        head.headerFields[.transferEncoding] != nil || (head.headerFields[.contentLength].flatMap { Int($0) } ?? 0) > 0
    }
}
