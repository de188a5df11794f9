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
    private let sessions = Mutex<[SMTPConnection]>([])

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
            let results = (try? await EventLoopFuture.whenAllSucceed(futures, on: group.next()).get())
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

    /// Closes every session (QUIT is not waited for).
    public func shutdown() async {
        let all = sessions.withLock { sessions in
            defer { sessions.removeAll() }
            return sessions
        }
        for session in all { try? await session.channel.close() }
    }

    /// Up to `wanted` open sessions, opening new ones (concurrently) while fewer are open. Throws the first
    /// opening failure when none is open.
    private func connections(wanted: Int) async throws(DeliveryFailure) -> [SMTPConnection] {
        let open = sessions.withLock { sessions in
            sessions.removeAll { !$0.channel.isActive }
            return sessions
        }
        guard open.count < wanted else { return open }
        var opened: [SMTPConnection] = []
        var firstFailure: DeliveryFailure?
        await withTaskGroup(of: Result<SMTPConnection, DeliveryFailure>.self) { group in
            for _ in open.count..<wanted { group.addTask { await self.open() } }
            for await result in group {
                switch result {
                case .success(let connection): opened.append(connection)
                case .failure(let failure): firstFailure = firstFailure ?? failure
                }
            }
        }
        let all = sessions.withLock { sessions in
            sessions += opened
            return sessions
        }
        if all.isEmpty, let firstFailure { throw firstFailure }
        if let firstFailure {
            logger.warning("could not open every SMTP session", metadata: ["smtp.server": "\(settings)", "error": "\(firstFailure)"])
        }
        return all
    }

    /// One new session, through its greeting, EHLO, STARTTLS and AUTH.
    private func open() async -> Result<SMTPConnection, DeliveryFailure> {
        let loop = group.next()
        let ready = loop.makePromise(of: SMTPCapabilities.self)
        let (settings, tlsContext) = (self.settings, self.tlsContext)
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
                        SMTPSessionHandler(settings: settings, tlsContext: tlsContext, implicitTLS: implicit, ready: ready))
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
