import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NotifyCore
import Postgres
import Providers
import ServiceLifecycle

/// The daemon's HTTP listener, one port (`http.bind`, `http.port`): health for the supervisor and the load
/// balancer, metrics for Prometheus. A `Service` of the daemon's group: on SIGTERM it stops accepting and finishes
/// the requests it has, after the consumers drained (it is started first, so the group stops it last).
///
/// - `GET /health/live`: 200 while every connection and database thread answers, else 503.
/// - `GET /health/ready`: 200 when the daemon accepts work (broker, database, consumers), else 503: what a load
///   balancer routes on. `GET /health/delivery`: 200 `delivering` while every channel has a provider and no lane is
///   late, else 503 `degraded`: what an alert watches. Each JSON body names every check with what it saw or why it
///   failed.
/// - `GET /metrics`: the Prometheus text of `DaemonMetrics`.
/// - `POST /receipts/<provider>`: a provider's signed status callbacks (`ReceiptEndpoint`).
/// - `/v1/...`: the commands, as over the RPC queue (`APIEndpoint`), described at `GET /openapi.json`.
///
/// Every connection is bounded (`HTTPSettings`): how many are open, how long one may idle (which bounds the time to
/// send headers too), how large and how many its headers are, how long a request's body may take to arrive
/// (`RequestGate`), and how many bytes of bodies all requests hold at once (`RequestBodies`).
struct HTTPListener: Service {
    let settings: HTTPSettings
    let checks: HealthChecks
    let metrics: DaemonMetrics
    let receipts: [ReceiptEndpoint]
    /// The commands over HTTP (`/v1/...`, `/openapi.json`).
    let api: APIEndpoint
    /// One-click unsubscribe, when `email.unsubscribeSecret` is set.
    let unsubscribe: UnsubscribeEndpoint?
    let logger: Logger

    func run() async throws {
        let readTimeout = TimeAmount.seconds(Int64(settings.requestReadTimeoutSeconds))
        let application = Application(
            router: router(),
            server: .http1(
                configuration: HTTP1Channel.Configuration(
                    additionalChannelHandlers: [RequestGate(readTimeout: readTimeout)],
                    idleTimeout: .seconds(Int64(settings.idleTimeoutSeconds)),
                    httpDecoderConfiguration: .init(
                        maxHeaderFieldSize: HTTPSettings.maxHeaderFieldBytes, maxHeaderListSize: HTTPSettings.maxHeaderBytes,
                        maxHeaderFieldCount: HTTPSettings.maxHeaderFields))),
            configuration: ApplicationConfiguration(
                address: .hostname(settings.bind, port: settings.port), serverName: nil,
                availableConnectionsDelegate: MaximumAvailableConnections(settings.maxConnections, logger: logger)),
            onServerRunning: { [logger, settings] channel in
                logger.info(
                    "HTTP listener up",
                    metadata: [
                        "http.address": "\(channel.localAddress.map { "\($0)" } ?? "\(settings.bind):\(settings.port)")"
                    ])
            },
            logger: logger)
        do {
            try await application.run()
        } catch {
            throw StartupError(step: "HTTP listener on \(settings.bind):\(settings.port)", reason: "\(error)")
        }
    }

    func router() -> Router<ListenerContext> {
        let router = Router(context: ListenerContext.self)
        router.get("/health/live") { [checks] _, _ in Self.response(checks.live()) }
        if let unsubscribe {
            router.get(RouterPath(UnsubscribeEndpoint.path)) { request, _ in unsubscribe.page(request) }
            router.post(RouterPath(UnsubscribeEndpoint.path)) { request, context in await unsubscribe.unsubscribe(request, context) }
        }
        router.get("/health/ready") { [checks] _, _ in Self.response(await checks.ready()) }
        router.get("/health/delivery") { [checks] _, _ in Self.response(checks.delivery()) }
        router.get("/metrics") { [metrics] _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: metrics.exposition())))
        }
        api.register(on: router)
        for endpoint in receipts {
            router.post(RouterPath(endpoint.source.path)) { request, context in await endpoint.handle(request, context) }
        }
        return router
    }

    private static func response(_ report: HealthReport) -> Response {
        Response(
            status: HTTPResponse.Status(code: report.status), headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: report.json.bytes)))
    }
}

extension HTTPListener {
    /// The listener with its endpoints: the commands, `providers`' receipts and (with a signer) one-click unsubscribe, on
    /// `database` (the query pool), sharing one budget for request bodies.
    init(
        settings: HTTPSettings, checks: HealthChecks, providers: [any DeliveryProvider], commands: CommandRouter, database: PGPool,
        unsubscribe signer: UnsubscribeSigner?, metrics: DaemonMetrics, logger: Logger
    ) {
        let bodies = RequestBodies(budgetBytes: settings.bodyBudgetBytes)
        self.init(
            settings: settings, checks: checks, metrics: metrics,
            receipts: providers.compactMap { provider in
                provider.receipts.map {
                    ReceiptEndpoint(
                        provider: provider.name, source: $0, database: database, bodies: bodies, metrics: metrics, logger: logger)
                }
            },
            api: APIEndpoint(
                router: commands, database: database, bodies: bodies, databaseQueueLimit: settings.databaseQueueLimit,
                metrics: metrics, logger: logger),
            unsubscribe: signer.map { UnsubscribeEndpoint(signer: $0, database: database, bodies: bodies, logger: logger) },
            logger: logger)
    }
}
