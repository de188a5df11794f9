import Foundation
import NIOCore
import NIOSSL
import NIOTLS
import NotifyCore

/// The client side of one SMTP connection, as a state machine on the channel's event loop: greeting, EHLO,
/// STARTTLS and EHLO again (RFC 3207), AUTH PLAIN or LOGIN (only over TLS), then one transaction after another
/// from its queue — `RSET` between them, `MAIL`/`RCPT`/`DATA` in one write when the server offers PIPELINING
/// (RFC 2920), the dot-stuffed message after the 354 — with a verdict per command and a timeout per reply.
/// An idle session says QUIT after `idleTimeout`. When the channel closes (or never connected) the pipeline removes
/// the handler, which then lets go of its context and timers: the context holds the handler, so a handler that
/// kept it would keep itself, its context and its pipeline alive after every session and every failed connect.
final class SMTPSessionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase: Equatable {
        case greeting, ehlo, startTLS, tlsHandshake, ehloAfterTLS, authPlain, authLoginUser, authLoginPassword
        case ready, quitting, closed
    }

    /// A command of a transaction whose reply is awaited, in order.
    private enum Step { case rset, mail, rcpt, data, body }

    private struct Transaction {
        var envelope: SMTPEnvelope
        var promise: EventLoopPromise<SMTPOutcome>
        var awaiting = CircularBuffer<Step>()
        /// Commands not yet written (when the server does not pipeline).
        var unwritten: [(Step, ByteBuffer)] = []
        var failure: DeliveryFailure?
        var bodyWritten = false
    }

    private let settings: SMTPSettings
    private let tlsContext: NIOSSLContext?
    private let ready: EventLoopPromise<SMTPCapabilities>
    private var phase = Phase.greeting
    private var parser = SMTPReplyParser()
    private var capabilities = SMTPCapabilities()
    private var tlsActive: Bool
    private var queue = CircularBuffer<(SMTPEnvelope, EventLoopPromise<SMTPOutcome>)>()
    /// Urgent messages, sent before anything in `queue`.
    private var urgentQueue = CircularBuffer<(SMTPEnvelope, EventLoopPromise<SMTPOutcome>)>()
    private var current: Transaction?
    /// A transaction ran on this connection, so the next one starts with RSET.
    private var used = false
    private var replyTimer: Scheduled<Void>?
    private var idleTimer: Scheduled<Void>?
    private var context: ChannelHandlerContext?
    /// The ready promise was completed (it may be completed once only).
    private var setupDone = false
    /// The pool's count of handlers alive: this one counts from `init` to `deinit`.
    private let count: LiveCount

    /// `tlsContext` is used for STARTTLS; with implicit TLS the channel already starts with its TLS handler.
    init(settings: SMTPSettings, tlsContext: NIOSSLContext?, implicitTLS: Bool, ready: EventLoopPromise<SMTPCapabilities>, count: LiveCount) {
        self.settings = settings
        self.tlsContext = tlsContext
        self.tlsActive = implicitTLS
        self.ready = ready
        self.count = count
        count.add(1)
    }

    deinit { count.add(-1) }

    /// Messages waiting or in progress on this session.
    var load: Int { urgentQueue.count + queue.count + (current == nil ? 0 : 1) }
    var isOpen: Bool { phase != .closed && phase != .quitting }

    /// Queues a message; it is sent after those before it (an urgent one, after the urgent ones before it).
    func enqueue(_ envelope: SMTPEnvelope, promise: EventLoopPromise<SMTPOutcome>) {
        guard isOpen else {
            return promise.succeed(.failed(.connection("the connection is closed"), reachedServer: false))
        }
        idleTimer?.cancel()
        idleTimer = nil
        if envelope.urgent { urgentQueue.append((envelope, promise)) } else { queue.append((envelope, promise)) }
        if phase == .ready, current == nil { startNext() }
    }

    // MARK: - Channel events

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    /// The channel closed (or never connected): anything still waiting fails, the timers stop, the context goes.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
        fail(.connection("the session ended"))
    }

    func channelActive(context: ChannelHandlerContext) {
        armReplyTimer(.greeting)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        parser.append(&bytes)
        do {
            while isOpen || phase == .quitting, let reply = try parser.next() {
                replyTimer?.cancel()
                replyTimer = nil
                handle(reply)
            }
        } catch {
            fail(.connection("protocol error: \(error.reason)"))
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            tlsActive = true
            if phase == .tlsHandshake {
                phase = .ehloAfterTLS
                write("EHLO \(settings.heloName)\r\n", awaiting: .ehlo)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if error is NIOSSLError || error is BoringSSLError {
            fail(.tls("TLS failed: \(error)"))
        } else {
            fail(.connection("\(error)"))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(.connection("the server closed the connection"))
        context.fireChannelInactive()
    }

    // MARK: - Replies

    private func handle(_ reply: SMTPReply) {
        switch phase {
        case .greeting:
            guard reply.code == 220 else { return fail(reply.failure(at: .greeting)) }
            phase = .ehlo
            write("EHLO \(settings.heloName)\r\n", awaiting: .ehlo)
        case .ehlo, .ehloAfterTLS:
            guard reply.code == 250 else { return fail(reply.failure(at: .ehlo)) }
            capabilities = SMTPCapabilities(ehlo: reply)
            if settings.tls == .startTLS, !tlsActive {
                guard capabilities.startTLS else { return fail(.startTLSUnavailable) }
                phase = .startTLS
                write("STARTTLS\r\n", awaiting: .starttls)
            } else {
                authenticate()
            }
        case .startTLS:
            guard reply.code == 220 else { return fail(reply.failure(at: .starttls)) }
            // Anything the server sent after its 220 arrived in clear text and must not be read as a reply.
            guard !parser.hasUnreadBytes else { return fail(.tls("clear-text data after the STARTTLS reply")) }
            startTLS()
        case .tlsHandshake:
            fail(.tls("a reply arrived before the TLS handshake completed"))
        case .authPlain, .authLoginPassword:
            guard reply.code == 235 else { return fail(reply.failure(at: .auth)) }
            becomeReady()
        case .authLoginUser:
            guard reply.code == 334 else { return fail(reply.failure(at: .auth)) }
            phase = .authLoginPassword
            write(Self.base64(settings.password ?? "") + "\r\n", awaiting: .auth)
        case .ready:
            handleTransactionReply(reply)
        case .quitting:
            context?.close(promise: nil)
        case .closed:
            break
        }
    }

    private func authenticate() {
        guard let username = settings.username else { return becomeReady() }
        // Credentials never travel in clear text, whatever the configuration says.
        guard tlsActive else { return fail(DeliveryFailure(code: "auth-needs-tls", .provider, detail: "AUTH is only sent over TLS")) }
        if capabilities.authMechanisms.contains("PLAIN") {
            phase = .authPlain
            write("AUTH PLAIN " + Self.base64("\0\(username)\0\(settings.password ?? "")") + "\r\n", awaiting: .auth)
        } else if capabilities.authMechanisms.contains("LOGIN") {
            phase = .authLoginUser
            write("AUTH LOGIN " + Self.base64(username) + "\r\n", awaiting: .auth)
        } else {
            fail(.authUnavailable)
        }
    }

    private func startTLS() {
        guard let context, let tlsContext else { return fail(.tls("no TLS configuration")) }
        do {
            let handler = try NIOSSLClientHandler(context: tlsContext, serverHostname: settings.serverName ?? settings.host)
            try context.pipeline.syncOperations.addHandler(handler, position: .first)
            phase = .tlsHandshake
            armReplyTimer(.starttls)
        } catch {
            fail(.tls("cannot start TLS: \(error)"))
        }
    }

    private func becomeReady() {
        phase = .ready
        setupDone = true
        ready.succeed(capabilities)
        startNext()
    }

    // MARK: - Transactions

    private func startNext() {
        guard current == nil else { return }
        guard let (envelope, promise) = urgentQueue.popFirst() ?? queue.popFirst() else { return armIdleTimer() }
        if envelope.needsSMTPUTF8, !capabilities.smtpUTF8 {
            promise.succeed(.failed(.unsendableAddress("the address needs SMTPUTF8, which the server does not offer"), reachedServer: false))
            return startNext()
        }
        if let limit = capabilities.sizeLimit, limit > 0, envelope.message.count > limit {
            promise.succeed(.failed(.tooLarge(limit: limit), reachedServer: false))
            return startNext()
        }
        var mail = "MAIL FROM:<\(envelope.sender)>"
        if capabilities.sizeLimit != nil { mail += " SIZE=\(envelope.message.count)" }
        if envelope.needsSMTPUTF8 { mail += " SMTPUTF8" }
        var commands: [(Step, String)] = used ? [(.rset, "RSET\r\n")] : []
        commands += [(.mail, mail + "\r\n"), (.rcpt, "RCPT TO:<\(envelope.recipient)>\r\n"), (.data, "DATA\r\n")]
        used = true
        var transaction = Transaction(envelope: envelope, promise: promise)
        guard let context else { return }
        if capabilities.pipelining {
            var buffer = context.channel.allocator.buffer(capacity: 128)
            for (step, command) in commands {
                buffer.writeString(command)
                transaction.awaiting.append(step)
            }
            current = transaction
            context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
        } else {
            transaction.unwritten = commands.dropFirst().map { ($0.0, context.channel.allocator.buffer(string: $0.1)) }
            transaction.awaiting.append(commands[0].0)
            current = transaction
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: commands[0].1)), promise: nil)
        }
        armReplyTimer(.mailFrom)
    }

    private func handleTransactionReply(_ reply: SMTPReply) {
        guard var transaction = current, let step = transaction.awaiting.popFirst() else {
            return fail(.connection("protocol error: a reply nobody asked for"))
        }
        switch step {
        case .rset:
            guard reply.code == 250 else {
                current = transaction
                return fail(.connection("the server refused RSET: \(reply.code)"))
            }
        case .mail:
            if reply.code != 250 { transaction.failure = reply.failure(at: .mailFrom) }
        case .rcpt:
            if reply.code != 250, reply.code != 251, transaction.failure == nil { transaction.failure = reply.failure(at: .recipient) }
        case .data:
            if reply.code == 354 {
                // After a refused MAIL or RCPT a server should not say 354; if it does, end the empty message.
                writeBody(transaction.failure == nil ? transaction.envelope.message : nil)
                transaction.bodyWritten = transaction.failure == nil
                transaction.awaiting.append(.body)
            } else if transaction.failure == nil {
                transaction.failure = reply.failure(at: .data)
            }
        case .body:
            if transaction.bodyWritten, transaction.failure == nil {
                if (200..<300).contains(reply.code) {
                    return complete(transaction, .accepted(queueID: reply.queueID))
                }
                transaction.failure = reply.failure(at: .message)
            }
        }
        if transaction.awaiting.isEmpty {
            if let failure = transaction.failure {
                return complete(transaction, .failed(failure, reachedServer: true))
            }
            if !transaction.unwritten.isEmpty, let context {
                let (next, buffer) = transaction.unwritten.removeFirst()
                transaction.awaiting.append(next)
                context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
            }
        }
        current = transaction
        if !transaction.awaiting.isEmpty { armReplyTimer(.message) }
    }

    private func complete(_ transaction: Transaction, _ outcome: SMTPOutcome) {
        current = nil
        transaction.promise.succeed(outcome)
        startNext()
    }

    /// The message dot-stuffed (`dotStuff`), then `.`; only the terminator when `message` is nil.
    private func writeBody(_ message: [UInt8]?) {
        guard let context else { return }
        var buffer = context.channel.allocator.buffer(capacity: (message?.count ?? 0) + 16)
        if let message { Self.dotStuff(message, into: &buffer) }
        buffer.writeString(".\r\n")
        context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
    }

    // MARK: - Timers, failure

    private func write(_ text: String, awaiting stage: DeliveryFailure.SMTPStage) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: text)), promise: nil)
        armReplyTimer(stage)
    }

    private func armReplyTimer(_ stage: DeliveryFailure.SMTPStage) {
        replyTimer?.cancel()
        guard let context else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        replyTimer = context.eventLoop.scheduleTask(in: TimeAmount(settings.replyTimeout)) {
            loopBound.value.fail(.timeout(stage))
        }
    }

    private func armIdleTimer() {
        guard let context, phase == .ready, idleTimer == nil else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        idleTimer = context.eventLoop.scheduleTask(in: TimeAmount(settings.idleTimeout)) {
            loopBound.value.quit()
        }
    }

    private func quit() {
        guard phase == .ready, current == nil, queue.isEmpty, urgentQueue.isEmpty, let context else { return }
        phase = .quitting
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: "QUIT\r\n")), promise: nil)
        armReplyTimer(.greeting)
    }

    /// Ends the session: the message in progress fails with `failure` (it reached the server), queued ones fail
    /// as not sent, and the channel closes.
    private func fail(_ failure: DeliveryFailure) {
        guard phase != .closed else { return }
        phase = .closed
        replyTimer?.cancel()
        idleTimer?.cancel()
        if !setupDone {
            setupDone = true
            ready.fail(failure)
        }
        if let transaction = current {
            current = nil
            transaction.promise.succeed(.failed(failure, reachedServer: true))
        }
        while let (_, promise) = urgentQueue.popFirst() ?? queue.popFirst() {
            promise.succeed(.failed(failure.failureClass == .transient ? .connection("the connection closed before this message's turn") : failure,
                                    reachedServer: false))
        }
        context?.close(promise: nil)
    }

    private static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }
}
