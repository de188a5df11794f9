import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NotifyCore
import Synchronization

/// A pool of SMTP sessions to one server: at most `poolSize` connections, opened when there is work and closed by
/// the server's or our idle timeout. `send` spreads a batch over the sessions (each sends its share one message
/// after another, pipelined), with no task per message: each message is a promise completed on the event loop.
/// A message whose session died before its turn goes to another session once; nothing that reached the server
/// is sent again here (the caller's retry policy decides, and the stable Message-ID makes a duplicate visible).
public final class SMTPClient: Sendable {
    public let settings: SMTPSettings
    private let group: any EventLoopGroup
    private let tlsContext: NIOSSLContext?
    private let logger: Logger
    private let pool = Mutex(Pool())
    /// Session handlers alive (made and not yet freed): what a test reads to see that none outlives its session.
    let handlers = LiveCount()

    /// The sessions open, and those being opened, never more than `poolSize` together: a caller counts both before
    /// it opens more, so workers that all find the pool empty (after an outage) do not each open a pool's worth.
    private struct Pool {
        var sessions: [SMTPConnection] = []
        /// By ticket: the task opening a session, which adds it to `sessions` when it is ready.
        var opening: [Int: Task<Result<SMTPConnection, DeliveryFailure>, Never>] = [:]
        var nextTicket = 0
        /// Shut down: a session opened late is closed at once instead of joining the pool.
        var closed = false
    }

    /// Fails when the TLS configuration cannot be built (an unreadable CA file).
    public init(settings: SMTPSettings, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton, logger: Logger) throws {
        self.settings = settings
        self.group = group
        self.logger = logger
        if settings.tls == .none {
            tlsContext = nil
        } else {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            if let path = settings.caCertificatePath { tls.trustRoots = .file(path) }
            tlsContext = try NIOSSLContext(configuration: tls)
        }
    }

    /// Sends every envelope; the outcomes are in the same order.
    func send(_ envelopes: [SMTPEnvelope]) async -> [SMTPOutcome] {
        var outcomes = [SMTPOutcome?](repeating: nil, count: envelopes.count)
        var pending = Array(envelopes.indices)
        for round in 0..<2 where !pending.isEmpty {
            let live: [SMTPConnection]
            do {
                live = try await connections(wanted: min(settings.poolSize, pending.count))
            } catch {
                for index in pending { outcomes[index] = .failed(error, reachedServer: false) }
                return outcomes.map { $0! }
            }
            let futures = pending.enumerated().map { offset, index in live[offset % live.count].send(envelopes[index]) }
            let results =
                (try? await EventLoopFuture.whenAllSucceed(futures, on: group.next()).get())
                ?? futures.map { _ in .failed(.connection("the session ended"), reachedServer: false) }
            var retry: [Int] = []
            for (index, result) in zip(pending, results) {
                if case .failed(let failure, false) = result, failure.failureClass == .transient, round == 0 {
                    retry.append(index)
                } else {
                    outcomes[index] = result
                }
            }
            pending = retry
        }
        return outcomes.map { $0 ?? .failed(.connection("the session ended"), reachedServer: false) }
    }

    /// Sessions open or being opened: at most `poolSize`.
    var held: Int { pool.withLock { $0.sessions.count + $0.opening.count } }

    /// Closes every session (QUIT is not waited for).
    public func shutdown() async {
        let all = pool.withLock { pool in
            pool.closed = true
            defer { pool.sessions.removeAll() }
            return pool.sessions
        }
        for session in all { try? await session.channel.close() }
    }

    /// Up to `wanted` open sessions (at most `poolSize`): opens what is missing, counting the sessions other callers
    /// are opening, and waits for every opening under way. Throws the first opening failure when none is open.
    private func connections(wanted: Int) async throws(DeliveryFailure) -> [SMTPConnection] {
        let opening = pool.withLock { pool in
            pool.sessions.removeAll { !$0.channel.isActive }
            let missing = min(wanted, settings.poolSize) - pool.sessions.count - pool.opening.count
            for _ in 0..<max(0, missing) {
                let ticket = pool.nextTicket
                pool.nextTicket += 1
                pool.opening[ticket] = Task { await self.join(ticket) }
            }
            return Array(pool.opening.values)
        }
        var firstFailure: DeliveryFailure?
        for task in opening {
            if case .failure(let failure) = await task.value { firstFailure = firstFailure ?? failure }
        }
        let all = pool.withLock { pool in
            pool.sessions.removeAll { !$0.channel.isActive }
            return pool.sessions
        }
        if all.isEmpty { throw firstFailure ?? .connection("every SMTP session closed as it opened") }
        if let firstFailure {
            logger.warning("could not open every SMTP session", metadata: ["smtp.server": "\(settings)", "error": "\(firstFailure)"])
        }
        return all
    }

    /// Opens the session of `ticket` and puts it in the pool until it closes (or closes it at once, when the pool
    /// was shut down meanwhile).
    private func join(_ ticket: Int) async -> Result<SMTPConnection, DeliveryFailure> {
        let result = await open()
        let orphan: SMTPConnection? = pool.withLock { pool in
            pool.opening[ticket] = nil
            guard case .success(let connection) = result else { return nil }
            if pool.closed { return connection }
            pool.sessions.append(connection)
            return nil
        }
        if let orphan {
            orphan.channel.close(promise: nil)
        } else if case .success(let connection) = result {
            // A session the server or the idle timeout closed leaves the pool at once, handler and all.
            let channel = ObjectIdentifier(connection.channel)
            connection.channel.closeFuture.whenComplete { [weak self] _ in
                self?.pool.withLock { $0.sessions.removeAll { ObjectIdentifier($0.channel) == channel } }
            }
        }
        return result
    }

    /// One new session, through its greeting, EHLO, STARTTLS and AUTH.
    private func open() async -> Result<SMTPConnection, DeliveryFailure> {
        let loop = group.next()
        let ready = loop.makePromise(of: SMTPCapabilities.self)
        let (settings, tlsContext, handlers) = (self.settings, self.tlsContext, self.handlers)
        let bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(TimeAmount(settings.connectTimeout))
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let implicit = settings.tls == .implicit
                    if implicit, let tlsContext {
                        try channel.pipeline.syncOperations.addHandler(
                            NIOSSLClientHandler(context: tlsContext, serverHostname: settings.serverName ?? settings.host))
                    }
                    try channel.pipeline.syncOperations.addHandler(
                        SMTPSessionHandler(
                            settings: settings, tlsContext: tlsContext, implicitTLS: implicit, ready: ready, count: handlers))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.connect(host: settings.host, port: settings.port).get()
        } catch {
            ready.fail(DeliveryFailure.unreachable("\(error)"))
            return .failure(.unreachable("cannot connect to \(settings.host):\(settings.port): \(error)"))
        }
        do {
            _ = try await ready.futureResult.get()
            let handler = try await channel.eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: SMTPSessionHandler.self), eventLoop: channel.eventLoop)
            }.get()
            return .success(SMTPConnection(channel: channel, handler: handler))
        } catch {
            channel.close(promise: nil)
            return .failure(error as? DeliveryFailure ?? .connection("\(error)"))
        }
    }
}

/// A session as the pool holds it: its channel, and its handler reachable only on the channel's event loop.
struct SMTPConnection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<SMTPSessionHandler>

    func send(_ envelope: SMTPEnvelope) -> EventLoopFuture<SMTPOutcome> {
        let promise = channel.eventLoop.makePromise(of: SMTPOutcome.self)
        channel.eventLoop.execute { [handler] in handler.value.enqueue(envelope, promise: promise) }
        return promise.futureResult
    }
}
