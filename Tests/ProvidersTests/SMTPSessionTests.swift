import NIOCore
import NIOEmbedded
import NotifyCore
import Testing

@testable import Providers

@Suite("The SMTP session: its protocol as a value, and its handler on an EmbeddedChannel")
struct SMTPSessionTests {
    typealias State = SMTPSessionState<Int>

    static func settings(tls: SMTPSettings.TLSMode = .none, username: String? = nil) -> SMTPSettings {
        var settings = SMTPSettings(host: "mail.test", port: 25)
        settings.tls = tls
        settings.username = username
        settings.password = username == nil ? nil : "secret"
        settings.heloName = "notifyd.test"
        return settings
    }

    static func envelope(_ recipient: String = "a@example.com", urgent: Bool = false, utf8: Bool = false) -> SMTPEnvelope {
        SMTPEnvelope(
            sender: "bounce@flowmart.test", recipient: recipient, message: Array("Subject: hi\r\n\r\n.hello\r\n".utf8),
            needsSMTPUTF8: utf8, urgent: urgent)
    }

    /// The actions with each `startNext` done as the handler does it: in its place, after the completions before it.
    static func expanded(_ actions: [State.Action], _ state: inout State) -> [State.Action] {
        var done: [State.Action] = []
        for action in actions {
            if case .startNext = action { done += expanded(state.next(), &state) } else { done.append(action) }
        }
        return done
    }

    static func server(_ text: String, to state: inout State) -> [State.Action] {
        var buffer = ByteBuffer(string: text)
        return expanded(state.read(&buffer), &state)
    }

    static func enqueue(_ envelope: SMTPEnvelope, _ promise: Int, to state: inout State) -> [State.Action] {
        expanded(state.enqueue(envelope, promise), &state)
    }

    /// What the actions write, in order; a body as `<body>` (or `<no body>`) and its terminator.
    static func written(_ actions: [State.Action]) -> String {
        actions.map { action in
            switch action {
            case .write(let text): text
            case .writeBody(let message): (message == nil ? "<no body>" : "<body>") + ".\r\n"
            default: ""
            }
        }.joined()
    }

    static func outcomes(_ actions: [State.Action]) -> [Int: SMTPOutcome] {
        var outcomes: [Int: SMTPOutcome] = [:]
        for case .complete(let promise, let outcome) in actions { outcomes[promise] = outcome }
        return outcomes
    }

    static func isReady(_ actions: [State.Action]) -> Bool {
        actions.contains { if case .ready = $0 { true } else { false } }
    }

    static func notReady(_ actions: [State.Action]) -> DeliveryFailure? {
        for case .notReady(let failure) in actions { return failure }
        return nil
    }

    /// A session through greeting and EHLO, with these EHLO keywords.
    static func ready(_ keywords: [String] = ["PIPELINING", "SIZE 1000"]) -> State {
        var state = State(settings: settings(), implicitTLS: false)
        _ = server("220 mail.test ESMTP\r\n", to: &state)
        let ehlo = (["mail.test"] + keywords).enumerated().map { index, line in
            "250\(index == keywords.count ? " " : "-")\(line)\r\n"
        }.joined()
        #expect(isReady(server(ehlo, to: &state)))
        return state
    }

    @Test("greeting, EHLO, a pipelined transaction, the server's queue id; the next one starts with RSET")
    func pipelined() {
        var state = State(settings: Self.settings(), implicitTLS: false)
        #expect(Self.written(Self.server("220 mail.test ESMTP\r\n", to: &state)) == "EHLO notifyd.test\r\n")
        #expect(Self.isReady(Self.server("250-mail.test\r\n250-PIPELINING\r\n250 SIZE 1000\r\n", to: &state)))
        #expect(state.isIdle)
        let size = Self.envelope().message.count
        #expect(
            Self.written(Self.enqueue(Self.envelope(), 1, to: &state))
                == "MAIL FROM:<bounce@flowmart.test> SIZE=\(size)\r\nRCPT TO:<a@example.com>\r\nDATA\r\n")
        #expect(Self.written(Self.server("250 ok\r\n250 ok\r\n354 go ahead\r\n", to: &state)) == "<body>.\r\n")
        let done = Self.server("250 2.0.0 Ok: queued as ABC123\r\n", to: &state)
        #expect(Self.outcomes(done) == [1: .accepted(queueID: "ABC123")])
        #expect(state.isIdle)
        #expect(Self.written(Self.enqueue(Self.envelope("b@example.com"), 2, to: &state)).hasPrefix("RSET\r\nMAIL FROM:"))
    }

    @Test("without PIPELINING, one command per reply")
    func unpipelined() {
        var state = Self.ready([])
        #expect(Self.written(Self.enqueue(Self.envelope(), 1, to: &state)) == "MAIL FROM:<bounce@flowmart.test>\r\n")
        #expect(Self.written(Self.server("250 ok\r\n", to: &state)) == "RCPT TO:<a@example.com>\r\n")
        #expect(Self.written(Self.server("250 ok\r\n", to: &state)) == "DATA\r\n")
        #expect(Self.written(Self.server("354 go\r\n", to: &state)) == "<body>.\r\n")
        #expect(Self.outcomes(Self.server("250 OK\r\n", to: &state)) == [1: .accepted(queueID: "OK")])
    }

    @Test("a refused recipient fails its message with the server's reply, and the session goes on")
    func refusedRecipient() {
        var state = Self.ready()
        _ = Self.enqueue(Self.envelope(), 1, to: &state)
        _ = Self.enqueue(Self.envelope("c@example.com"), 2, to: &state)
        let refused = Self.server("250 ok\r\n550 5.1.1 no such user\r\n503 5.5.1 no valid recipients\r\n", to: &state)
        let failure = SMTPReply(code: 550, lines: ["5.1.1 no such user"]).failure(at: .recipient)
        #expect(Self.outcomes(refused) == [1: .failed(failure, reachedServer: true)])
        #expect(Self.written(refused).hasPrefix("RSET\r\nMAIL FROM:"), "the next message starts at once")
    }

    @Test("a 354 after a refused recipient ends an empty message; the refusal stands")
    func dataAfterRefusal() {
        var state = Self.ready()
        _ = Self.enqueue(Self.envelope(), 1, to: &state)
        let actions = Self.server("250 ok\r\n550 no\r\n354 go\r\n", to: &state)
        #expect(Self.written(actions) == "<no body>.\r\n")
        let done = Self.server("250 ok\r\n", to: &state)
        #expect(Self.outcomes(done) == [1: .failed(SMTPReply(code: 550, lines: ["no"]).failure(at: .recipient), reachedServer: true)])
    }

    @Test("what the server cannot take (over SIZE, SMTPUTF8 not offered) fails unsent and the next message goes")
    func unsendable() {
        var state = Self.ready(["PIPELINING", "SIZE 10"])
        let actions = Self.enqueue(Self.envelope(), 1, to: &state)
        #expect(Self.outcomes(actions) == [1: .failed(.tooLarge(limit: 10), reachedServer: false)])
        var utf8 = Self.ready()
        let refused = Self.enqueue(Self.envelope("ü@example.com", utf8: true), 1, to: &utf8)
        #expect(
            Self.outcomes(refused)[1]
                == .failed(
                    .unsendableAddress("the address needs SMTPUTF8, which the server does not offer"), reachedServer: false))
        #expect(utf8.isIdle)
    }

    @Test("urgent messages go before bulk ones already queued")
    func urgentFirst() {
        var state = Self.ready()
        _ = Self.enqueue(Self.envelope("first@example.com"), 1, to: &state)
        _ = Self.enqueue(Self.envelope("bulk@example.com"), 2, to: &state)
        _ = Self.enqueue(Self.envelope("urgent@example.com", urgent: true), 3, to: &state)
        let next = Self.server("250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n", to: &state)
        #expect(Self.written(next).contains("RCPT TO:<urgent@example.com>"))
        #expect(!Self.written(next).contains("bulk@"))
    }

    @Test("a failure: the message in progress reached the server, queued ones did not and may go elsewhere at once")
    func failure() {
        var state = Self.ready()
        _ = Self.enqueue(Self.envelope(), 1, to: &state)
        _ = Self.enqueue(Self.envelope("b@example.com"), 2, to: &state)
        let actions = state.fail(.timeout(.message))
        #expect(
            Self.outcomes(actions) == [
                1: .failed(.timeout(.message), reachedServer: true),
                2: .failed(.connection("the connection closed before this message's turn"), reachedServer: false),
            ])
        #expect(!state.isOpen && state.fail(.connection("again")).isEmpty, "once")
        #expect(
            Self.outcomes(Self.enqueue(Self.envelope(), 3, to: &state)) == [
                3: .failed(.connection("the connection is closed"), reachedServer: false)
            ])
    }

    @Test("STARTTLS: required and not offered, not ready; offered, TLS starts and EHLO is said again; AUTH only over TLS")
    func startTLS() {
        var refused = State(settings: Self.settings(tls: .startTLS), implicitTLS: false)
        _ = Self.server("220 hi\r\n", to: &refused)
        #expect(Self.notReady(Self.server("250 mail.test\r\n", to: &refused)) == .startTLSUnavailable)

        var state = State(settings: Self.settings(tls: .startTLS, username: "notify"), implicitTLS: false)
        _ = Self.server("220 hi\r\n", to: &state)
        #expect(Self.written(Self.server("250-mail.test\r\n250-STARTTLS\r\n250 AUTH PLAIN\r\n", to: &state)) == "STARTTLS\r\n")
        let upgrade = Self.server("220 go ahead\r\n", to: &state)
        #expect(upgrade.contains { if case .startTLS = $0 { true } else { false } })
        #expect(Self.written(state.tlsEstablished()) == "EHLO notifyd.test\r\n")
        #expect(Self.written(Self.server("250-mail.test\r\n250 AUTH PLAIN LOGIN\r\n", to: &state)) == "AUTH PLAIN AG5vdGlmeQBzZWNyZXQ=\r\n")
        #expect(Self.isReady(Self.server("235 ok\r\n", to: &state)))

        var clear = State(settings: Self.settings(tls: .none, username: "notify"), implicitTLS: false)
        _ = Self.server("220 hi\r\n", to: &clear)
        #expect(Self.notReady(Self.server("250-mail.test\r\n250 AUTH PLAIN\r\n", to: &clear))?.code == "auth-needs-tls")
    }

    @Test("clear-text bytes after the STARTTLS reply end the session")
    func injectedAfterStartTLS() {
        var state = State(settings: Self.settings(tls: .startTLS), implicitTLS: false)
        _ = Self.server("220 hi\r\n", to: &state)
        _ = Self.server("250-mail.test\r\n250 STARTTLS\r\n", to: &state)
        let actions = Self.server("220 go ahead\r\n250-injected\r\n", to: &state)
        #expect(Self.notReady(actions) == .tls("clear-text data after the STARTTLS reply"))
    }

    @Test("idle: QUIT only when nothing is queued or in progress")
    func idle() {
        var state = Self.ready()
        _ = Self.enqueue(Self.envelope(), 1, to: &state)
        #expect(state.idleTimedOut().isEmpty)
        _ = Self.server("250 ok\r\n250 ok\r\n354 go\r\n250 ok\r\n", to: &state)
        #expect(Self.written(state.idleTimedOut()) == "QUIT\r\n")
        #expect(!state.isOpen)
    }

    // MARK: - The handler

    @Test("the handler on a channel: writes what the session says, completes promises, times out a silent server")
    func handler() throws {
        let channel = EmbeddedChannel()
        let ready = channel.eventLoop.makePromise(of: SMTPCapabilities.self)
        let count = LiveCount()
        try channel.pipeline.syncOperations.addHandler(
            SMTPSessionHandler(settings: Self.settings(), tlsContext: nil, implicitTLS: false, ready: ready, count: count))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        func read() throws -> String? { try channel.readOutbound(as: ByteBuffer.self).map { String(buffer: $0) } }

        try channel.writeInbound(ByteBuffer(string: "220 mail.test\r\n"))
        #expect(try read() == "EHLO notifyd.test\r\n")
        try channel.writeInbound(ByteBuffer(string: "250-mail.test\r\n250 PIPELINING\r\n"))
        #expect(try ready.futureResult.wait().pipelining)

        let handler = try channel.pipeline.syncOperations.handler(type: SMTPSessionHandler.self)
        let sent = channel.eventLoop.makePromise(of: SMTPOutcome.self)
        handler.enqueue(Self.envelope(), promise: sent)
        #expect(try read() == "MAIL FROM:<bounce@flowmart.test>\r\nRCPT TO:<a@example.com>\r\nDATA\r\n")
        try channel.writeInbound(ByteBuffer(string: "250 ok\r\n250 ok\r\n354 go\r\n"))
        #expect(try read() == "Subject: hi\r\n\r\n..hello\r\n.\r\n", "dot-stuffed, then the terminator")
        try channel.writeInbound(ByteBuffer(string: "250 queued as Q1\r\n"))
        #expect(try sent.futureResult.wait() == .accepted(queueID: "Q1"))

        let silent = channel.eventLoop.makePromise(of: SMTPOutcome.self)
        handler.enqueue(Self.envelope(), promise: silent)
        #expect(try read()?.hasPrefix("RSET\r\n") == true)
        channel.embeddedEventLoop.advanceTime(by: .seconds(31))
        #expect(try silent.futureResult.wait() == .failed(.timeout(.mailFrom), reachedServer: true))
        #expect(!channel.isActive, "a silent server's session is closed")
        #expect(!handler.isOpen)
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("a completion that queues an urgent message at once has it sent before the bulk message already queued")
    func reentrantUrgent() throws {
        let channel = EmbeddedChannel()
        let ready = channel.eventLoop.makePromise(of: SMTPCapabilities.self)
        try channel.pipeline.syncOperations.addHandler(
            SMTPSessionHandler(settings: Self.settings(), tlsContext: nil, implicitTLS: false, ready: ready, count: LiveCount()))
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
        try channel.writeInbound(ByteBuffer(string: "220 mail.test\r\n250-mail.test\r\n250 PIPELINING\r\n"))
        _ = try channel.readOutbound(as: ByteBuffer.self)
        let handler = try channel.pipeline.syncOperations.handler(type: SMTPSessionHandler.self)
        let first = channel.eventLoop.makePromise(of: SMTPOutcome.self)
        handler.enqueue(Self.envelope("first@example.com"), promise: first)
        handler.enqueue(Self.envelope("bulk@example.com"), promise: channel.eventLoop.makePromise(of: SMTPOutcome.self))
        first.futureResult.assumeIsolated().whenSuccess { _ in
            handler.enqueue(Self.envelope("urgent@example.com", urgent: true), promise: channel.eventLoop.makePromise(of: SMTPOutcome.self))
        }
        _ = try channel.readOutbound(as: ByteBuffer.self)
        try channel.writeInbound(ByteBuffer(string: "250 ok\r\n250 ok\r\n354 go\r\n"))
        _ = try channel.readOutbound(as: ByteBuffer.self)
        try channel.writeInbound(ByteBuffer(string: "250 ok\r\n"))
        let next = String(buffer: try #require(try channel.readOutbound(as: ByteBuffer.self)))
        #expect(next.contains("RCPT TO:<urgent@example.com>"), "\(next)")
        _ = try channel.finish(acceptAlreadyClosed: true)
    }

    @Test("a server that closes the connection fails what waits, and the handler lets go of everything")
    func closedByServer() throws {
        let count = LiveCount()
        let waiting: EventLoopFuture<SMTPOutcome>
        do {
            let channel = EmbeddedChannel()
            let ready = channel.eventLoop.makePromise(of: SMTPCapabilities.self)
            try channel.pipeline.syncOperations.addHandler(
                SMTPSessionHandler(settings: Self.settings(), tlsContext: nil, implicitTLS: false, ready: ready, count: count))
            try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 25)).wait()
            try channel.writeInbound(ByteBuffer(string: "220 mail.test\r\n250 mail.test\r\n"))
            _ = try ready.futureResult.wait()
            let handler = try channel.pipeline.syncOperations.handler(type: SMTPSessionHandler.self)
            let promise = channel.eventLoop.makePromise(of: SMTPOutcome.self)
            handler.enqueue(Self.envelope(), promise: promise)
            waiting = promise.futureResult
            channel.pipeline.fireChannelInactive()
            _ = try channel.finish(acceptAlreadyClosed: true)
        }
        #expect(try waiting.wait() == .failed(.connection("the server closed the connection"), reachedServer: true))
        #expect(count.value == 0, "no handler outlives its session")
    }
}
