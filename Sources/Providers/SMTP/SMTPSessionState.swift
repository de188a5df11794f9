import Foundation
import NIOCore
import NotifyCore

/// The client side of one SMTP session as a value with no I/O: greeting, EHLO, STARTTLS and EHLO again (RFC 3207),
/// AUTH PLAIN or LOGIN (only over TLS), then one transaction after another from its queue — `RSET` between them,
/// `MAIL`/`RCPT`/`DATA` in one write when the server offers PIPELINING (RFC 2920), the message after the 354 — with
/// a verdict per command. Each event (a message queued, bytes read, TLS up, a failure, idleness) returns what the
/// channel handler is to do, in order (`Action`); the handler does it (`SMTPSessionHandler`). `Promise` is what
/// completes a message: the handler's event-loop promise, a plain value in tests.
struct SMTPSessionState<Promise> {
    enum Phase: Equatable {
        case greeting, ehlo, startTLS, tlsHandshake, ehloAfterTLS, authPlain, authLoginUser, authLoginPassword
        case ready, quitting, closed
    }

    /// What the handler does, in order.
    enum Action {
        /// Writes these commands and flushes.
        case write(String)
        /// Writes the message dot-stuffed, then `.`; only the terminator when nil (after a refused MAIL or RCPT).
        case writeBody([UInt8]?)
        /// A reply is due within the reply timeout; its absence fails the session at this stage.
        case awaitReply(DeliveryFailure.SMTPStage)
        /// A reply arrived: its timeout no longer runs.
        case replyArrived
        /// Puts TLS first in the pipeline; a failure to do so fails the session (`fail`).
        case startTLS
        /// The session is ready for messages, with these capabilities.
        case ready(SMTPCapabilities)
        /// The session never became ready.
        case notReady(DeliveryFailure)
        case complete(Promise, SMTPOutcome)
        /// Starts the next message (`next`), once the promises before have been completed: a completion that queues
        /// an urgent message or ends the session is seen before the next message is chosen.
        case startNext
        /// Nothing to send: the session may say QUIT after the idle timeout (`idleTimedOut`).
        case idle
        case stopTimers
        case close
    }

    /// A command of a transaction whose reply is awaited, in order.
    private enum Step { case rset, mail, rcpt, data, body }

    private struct Transaction {
        var envelope: SMTPEnvelope
        var promise: Promise
        var awaiting = CircularBuffer<Step>()
        /// Commands not yet written (when the server does not pipeline).
        var unwritten: [(Step, String)] = []
        var failure: DeliveryFailure?
        var bodyWritten = false
    }

    private let settings: SMTPSettings
    private(set) var phase = Phase.greeting
    private var parser = SMTPReplyParser()
    private var capabilities = SMTPCapabilities()
    private var tlsActive: Bool
    private var queue = CircularBuffer<(SMTPEnvelope, Promise)>()
    /// Urgent messages, sent before anything in `queue`.
    private var urgentQueue = CircularBuffer<(SMTPEnvelope, Promise)>()
    private var current: Transaction?
    /// A transaction ran on this session, so the next one starts with RSET.
    private var used = false
    /// The session said ready or not ready (it says so once).
    private var setupDone = false

    /// `implicitTLS`: the channel starts with TLS (port 465), so no STARTTLS.
    init(settings: SMTPSettings, implicitTLS: Bool) {
        self.settings = settings
        tlsActive = implicitTLS
    }

    var isOpen: Bool { phase != .closed && phase != .quitting }
    /// Ready with nothing to send.
    var isIdle: Bool { phase == .ready && current == nil && queue.isEmpty && urgentQueue.isEmpty }

    /// The channel is up: the greeting is due.
    func connected() -> [Action] { [.awaitReply(.greeting)] }

    /// Queues a message; it is sent after those before it (an urgent one, after the urgent ones before it).
    mutating func enqueue(_ envelope: SMTPEnvelope, _ promise: Promise) -> [Action] {
        guard isOpen else { return [.complete(promise, .failed(.connection("the connection is closed"), reachedServer: false))] }
        if envelope.urgent { urgentQueue.append((envelope, promise)) } else { queue.append((envelope, promise)) }
        return next()
    }

    /// Bytes from the server: each whole reply, in order.
    mutating func read(_ bytes: inout ByteBuffer) -> [Action] {
        parser.append(&bytes)
        var actions: [Action] = []
        do {
            while isOpen || phase == .quitting, let reply = try parser.next() {
                actions.append(.replyArrived)
                actions += handle(reply)
            }
        } catch {
            actions += fail(.connection("protocol error: \(error.reason)"))
        }
        return actions
    }

    /// The TLS handshake completed (after STARTTLS: EHLO again, as RFC 3207 requires).
    mutating func tlsEstablished() -> [Action] {
        tlsActive = true
        guard phase == .tlsHandshake else { return [] }
        phase = .ehloAfterTLS
        return command("EHLO \(settings.heloName)\r\n", awaiting: .ehlo)
    }

    /// Idle for the idle timeout: QUIT, unless something came in meanwhile.
    mutating func idleTimedOut() -> [Action] {
        guard isIdle else { return [] }
        phase = .quitting
        return command("QUIT\r\n", awaiting: .greeting)
    }

    /// Ends the session: the message in progress fails with `failure` (it reached the server), queued ones fail
    /// as not sent (so they may go to another connection at once), and the channel closes.
    mutating func fail(_ failure: DeliveryFailure) -> [Action] {
        guard phase != .closed else { return [] }
        phase = .closed
        var actions: [Action] = [.stopTimers]
        if !setupDone {
            setupDone = true
            actions.append(.notReady(failure))
        }
        if let transaction = current {
            current = nil
            actions.append(.complete(transaction.promise, .failed(failure, reachedServer: true)))
        }
        let unsent: DeliveryFailure =
            failure.failureClass == .transient ? .connection("the connection closed before this message's turn") : failure
        while let (_, promise) = urgentQueue.popFirst() ?? queue.popFirst() {
            actions.append(.complete(promise, .failed(unsent, reachedServer: false)))
        }
        return actions + [.close]
    }

    // MARK: - Replies

    private mutating func handle(_ reply: SMTPReply) -> [Action] {
        switch phase {
        case .greeting:
            guard reply.code == 220 else { return fail(reply.failure(at: .greeting)) }
            phase = .ehlo
            return command("EHLO \(settings.heloName)\r\n", awaiting: .ehlo)
        case .ehlo, .ehloAfterTLS:
            guard reply.code == 250 else { return fail(reply.failure(at: .ehlo)) }
            capabilities = SMTPCapabilities(ehlo: reply)
            guard settings.tls == .startTLS, !tlsActive else { return authenticate() }
            guard capabilities.startTLS else { return fail(.startTLSUnavailable) }
            phase = .startTLS
            return command("STARTTLS\r\n", awaiting: .starttls)
        case .startTLS:
            guard reply.code == 220 else { return fail(reply.failure(at: .starttls)) }
            // Anything the server sent after its 220 arrived in clear text and must not be read as a reply.
            guard !parser.hasUnreadBytes else { return fail(.tls("clear-text data after the STARTTLS reply")) }
            phase = .tlsHandshake
            return [.startTLS, .awaitReply(.starttls)]
        case .tlsHandshake:
            return fail(.tls("a reply arrived before the TLS handshake completed"))
        case .authPlain, .authLoginPassword:
            guard reply.code == 235 else { return fail(reply.failure(at: .auth)) }
            return becomeReady()
        case .authLoginUser:
            guard reply.code == 334 else { return fail(reply.failure(at: .auth)) }
            phase = .authLoginPassword
            return command(Self.base64(settings.password ?? "") + "\r\n", awaiting: .auth)
        case .ready:
            return transactionReply(reply)
        case .quitting:
            return [.close]
        case .closed:
            return []
        }
    }

    private mutating func authenticate() -> [Action] {
        guard let username = settings.username else { return becomeReady() }
        // Credentials never travel in clear text, whatever the configuration says.
        guard tlsActive else { return fail(DeliveryFailure(code: "auth-needs-tls", .provider, detail: "AUTH is only sent over TLS")) }
        if capabilities.authMechanisms.contains("PLAIN") {
            phase = .authPlain
            return command("AUTH PLAIN " + Self.base64("\0\(username)\0\(settings.password ?? "")") + "\r\n", awaiting: .auth)
        }
        guard capabilities.authMechanisms.contains("LOGIN") else { return fail(.authUnavailable) }
        phase = .authLoginUser
        return command("AUTH LOGIN " + Self.base64(username) + "\r\n", awaiting: .auth)
    }

    private mutating func becomeReady() -> [Action] {
        phase = .ready
        setupDone = true
        return [.ready(capabilities), .startNext]
    }

    private func command(_ text: String, awaiting stage: DeliveryFailure.SMTPStage) -> [Action] {
        [.write(text), .awaitReply(stage)]
    }

    private static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    // MARK: - Transactions

    /// The next message's commands, when the session is ready and free; a message the server cannot take (SMTPUTF8,
    /// SIZE) fails without being sent, and the one after it is next.
    mutating func next() -> [Action] {
        guard phase == .ready, current == nil else { return [] }
        guard let (envelope, promise) = urgentQueue.popFirst() ?? queue.popFirst() else { return [.idle] }
        if envelope.needsSMTPUTF8, !capabilities.smtpUTF8 {
            let failure = DeliveryFailure.unsendableAddress("the address needs SMTPUTF8, which the server does not offer")
            return [.complete(promise, .failed(failure, reachedServer: false)), .startNext]
        }
        if let limit = capabilities.sizeLimit, limit > 0, envelope.message.count > limit {
            return [.complete(promise, .failed(.tooLarge(limit: limit), reachedServer: false)), .startNext]
        }
        var mail = "MAIL FROM:<\(envelope.sender)>"
        if capabilities.sizeLimit != nil { mail += " SIZE=\(envelope.message.count)" }
        if envelope.needsSMTPUTF8 { mail += " SMTPUTF8" }
        var commands: [(Step, String)] = used ? [(.rset, "RSET\r\n")] : []
        commands += [(.mail, mail + "\r\n"), (.rcpt, "RCPT TO:<\(envelope.recipient)>\r\n"), (.data, "DATA\r\n")]
        used = true
        var transaction = Transaction(envelope: envelope, promise: promise)
        let first: String
        if capabilities.pipelining {
            transaction.awaiting.append(contentsOf: commands.map { $0.0 })
            first = commands.map { $0.1 }.joined()
        } else {
            transaction.unwritten = Array(commands.dropFirst())
            transaction.awaiting.append(commands[0].0)
            first = commands[0].1
        }
        current = transaction
        return [.write(first), .awaitReply(.mailFrom)]
    }

    private mutating func transactionReply(_ reply: SMTPReply) -> [Action] {
        guard var transaction = current, let step = transaction.awaiting.popFirst() else {
            return fail(.connection("protocol error: a reply nobody asked for"))
        }
        var actions: [Action] = []
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
                actions.append(.writeBody(transaction.failure == nil ? transaction.envelope.message : nil))
                transaction.bodyWritten = transaction.failure == nil
                transaction.awaiting.append(.body)
            } else if transaction.failure == nil {
                transaction.failure = reply.failure(at: .data)
            }
        case .body:
            if transaction.bodyWritten, transaction.failure == nil {
                if (200..<300).contains(reply.code) { return actions + complete(transaction, .accepted(queueID: reply.queueID)) }
                transaction.failure = reply.failure(at: .message)
            }
        }
        if transaction.awaiting.isEmpty {
            if let failure = transaction.failure { return actions + complete(transaction, .failed(failure, reachedServer: true)) }
            if !transaction.unwritten.isEmpty {
                let (next, command) = transaction.unwritten.removeFirst()
                transaction.awaiting.append(next)
                actions.append(.write(command))
            }
        }
        current = transaction
        if !transaction.awaiting.isEmpty { actions.append(.awaitReply(.message)) }
        return actions
    }

    private mutating func complete(_ transaction: Transaction, _ outcome: SMTPOutcome) -> [Action] {
        current = nil
        return [.complete(transaction.promise, outcome), .startNext]
    }
}
