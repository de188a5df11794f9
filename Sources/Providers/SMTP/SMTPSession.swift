import NIOCore
import NIOSSL
import NIOTLS
import NotifyCore

/// One SMTP connection's channel handler: it feeds the channel's events to the session's protocol
/// (`SMTPSessionState`, a value with no I/O) and does what it answers — writes, timers, STARTTLS, promises. An idle
/// session says QUIT after `idleTimeout`. When the channel closes (or never connected) the pipeline removes the
/// handler, which then lets go of its context and timers: the context holds the handler, so a handler that kept it
/// would keep itself, its context and its pipeline alive after every session and every failed connect.
final class SMTPSessionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    typealias State = SMTPSessionState<EventLoopPromise<SMTPOutcome>>

    private let settings: SMTPSettings
    private let tlsContext: NIOSSLContext?
    private let ready: EventLoopPromise<SMTPCapabilities>
    private var state: State
    private var replyTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// The pool's count of handlers alive: this one counts from `init` to `deinit`.
    private let count: LiveCount

    /// `tlsContext` is used for STARTTLS; with implicit TLS the channel already starts with its TLS handler.
    init(settings: SMTPSettings, tlsContext: NIOSSLContext?, implicitTLS: Bool, ready: EventLoopPromise<SMTPCapabilities>, count: LiveCount)
    {
        self.settings = settings
        self.tlsContext = tlsContext
        self.ready = ready
        self.count = count
        state = State(settings: settings, implicitTLS: implicitTLS)
        count.add(1)
    }

    deinit { count.add(-1) }

    var isOpen: Bool { state.isOpen }

    /// Queues a message; it is sent after those before it (an urgent one, after the urgent ones before it).
    func enqueue(_ envelope: SMTPEnvelope, promise: EventLoopPromise<SMTPOutcome>) {
        idleTimer?.cancel()
        idleTimer = nil
        perform(state.enqueue(envelope, promise))
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The channel closed (or never connected): anything still waiting fails, the timers stop, the context goes.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        perform(state.fail(.connection("the session ended")))
    }

    func channelActive(context: ChannelHandlerContext) {
        perform(state.connected())
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        perform(state.read(&bytes))
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent { perform(state.tlsEstablished()) }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        perform(state.fail(error is NIOSSLError || error is BoringSSLError ? .tls("TLS failed: \(error)") : .connection("\(error)")))
    }

    func channelInactive(context: ChannelHandlerContext) {
        perform(state.fail(.connection("the server closed the connection")))
        context.fireChannelInactive()
    }

    // MARK: - Actions

    /// Does what the session answered, in order. A promise completed here may call back (`enqueue`) at once: the
    /// state has already moved on, and the next message is chosen only after the completions (`startNext`).
    private func perform(_ actions: [State.Action]) {
        for action in actions {
            switch action {
            case .write(let text):
                guard let context else { continue }
                context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
            case .writeBody(let message):
                guard let context else { continue }
                var buffer = context.channel.allocator.buffer(capacity: (message?.count ?? 0) + 16)
                if let message { Self.dotStuff(message, into: &buffer) }
                buffer.writeString(".\r\n")
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            case .awaitReply(let stage):
                armReplyTimer(stage)
            case .replyArrived:
                replyTimer?.cancel()
                replyTimer = nil
            case .startTLS:
                if let failure = startTLS() { return perform(state.fail(failure)) }
            case .ready(let capabilities):
                ready.succeed(capabilities)
            case .notReady(let failure):
                ready.fail(failure)
            case .complete(let promise, let outcome):
                promise.succeed(outcome)
            case .startNext:
                perform(state.next())
            case .idle:
                armIdleTimer()
            case .stopTimers:
                replyTimer?.cancel()
                idleTimer?.cancel()
            case .close:
                context?.close(promise: nil)
            }
        }
    }

    /// Puts TLS first in the pipeline; the failure, if it cannot.
    private func startTLS() -> DeliveryFailure? {
        guard let context, let tlsContext else { return .tls("no TLS configuration") }
        do {
            let handler = try NIOSSLClientHandler(context: tlsContext, serverHostname: settings.serverName ?? settings.host)
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
            return nil
        } catch {
            return .tls("cannot start TLS: \(error)")
        }
    }

    private func armReplyTimer(_ stage: DeliveryFailure.SMTPStage) {
        replyTimer?.cancel()
        guard let context else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        replyTimer = context.eventLoop.scheduleTask(in: TimeAmount(settings.replyTimeout)) {
            let handler = loopBound.value
            handler.perform(handler.state.fail(.timeout(stage)))
        }
    }

    /// Armed only while the session is idle: a message queued since the answer was given keeps it unarmed.
    private func armIdleTimer() {
        guard let context, state.isIdle, idleTimer == nil else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: TimeAmount(settings.idleTimeout)) {
            let handler = loopBound.value
            handler.idleTimer = nil
            handler.perform(handler.state.idleTimedOut())
        }
    }
}
