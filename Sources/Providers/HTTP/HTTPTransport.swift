import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import NotifyCore

/// The HTTP client every HTTP provider sends through: one async-http-client pool per daemon, TLS verified against
/// the system's roots (plus a configured CA, for test servers), a deadline on every request that covers its whole
/// answer, body included, and at most `maxBodyBytes` of any body read. Requests of a round go out together as
/// futures on the client's event loops, not as a Swift task each. Its owner shuts it down (the daemon's resources;
/// the providers that share it do not), also when the daemon never got to start.
public final class HTTPTransport: Sendable {
    let client: HTTPClient
    let configuration: HTTPClient.Configuration

    /// - Parameters:
    ///   - caCertificatePath: a PEM file of roots to trust besides the system's (a private CA); nil for none.
    ///   - connectionsPerHost: HTTP/1.1 connections kept per host; requests beyond it wait for one.
    public init(caCertificatePath: String? = nil, connectionsPerHost: Int = 32) {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let caCertificatePath {
            tls.additionalTrustRoots = [.file(caCertificatePath)]
        }
        var configuration = HTTPClient.Configuration(
            tlsConfiguration: tls, redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(5), read: .seconds(30)),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connectionsPerHost))
        configuration.httpVersion = .automatic
        self.configuration = configuration
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }

    /// A response with its body (at most `maxBodyBytes`).
    public struct Response: Sendable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]

        public func header(_ name: String) -> String? {
            headers.first { $0.0.caseInsensitiveCompare(name) == .orderedSame }?.1
        }
    }

    /// Largest response body read, for every provider: their answers are a few hundred bytes (an SNS signing
    /// certificate, the largest, is about 2 KiB), so none needs more. The body is read as it streams, and the request
    /// is abandoned (its connection closed) once it passes the limit or announces a `Content-Length` past it: nothing
    /// a server sends makes the daemon hold more.
    static let maxBodyBytes = 64 * 1024

    /// Sends every request at once and waits for all of them, each within `timeout`; one result each, in order.
    public func execute(_ requests: [HTTPClient.Request], timeout: Duration) async -> [Result<Response, DeliveryFailure>] {
        await Self.execute(requests, on: client, timeout: timeout)
    }

    static func execute(_ requests: [HTTPClient.Request], on client: HTTPClient, timeout: Duration) async -> [Result<
        Response, DeliveryFailure
    >] {
        let deadline =
            NIODeadline.now()
            + .nanoseconds(
                Int64(timeout.components.seconds) * 1_000_000_000
                    + Int64(timeout.components.attoseconds / 1_000_000_000))
        let futures = requests.map { request in
            client.execute(request: request, delegate: ResponseAccumulator(request: request, maxBodySize: maxBodyBytes), deadline: deadline)
                .futureResult
        }
        var results: [Result<Response, DeliveryFailure>] = []
        results.reserveCapacity(futures.count)
        for future in futures {
            do {
                let response = try await future.get()
                let body = response.body.map { Array($0.readableBytesView) } ?? []
                results.append(
                    .success(
                        Response(
                            status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) }, body: body)))
            } catch {
                results.append(.failure(Self.failure(error)))
            }
        }
        return results
    }

    /// `execute` for requests planned one per delivery: one that could not be built stands for its failure, and
    /// every answer is classified by `classify`. One result per planned request, in order.
    public func send(
        _ planned: [Result<HTTPClient.Request, DeliveryFailure>], timeout: Duration,
        classify: (Response) -> DeliveryResult
    ) async -> [DeliveryResult] {
        await execute(planned, timeout: timeout).map { answer in
            switch answer {
            case .success(let response): classify(response)
            case .failure(let failure): .failed(failure)
            }
        }
    }

    /// `execute` for planned requests: one that could not be built stands for its failure, in its place.
    public func execute(
        _ planned: [Result<HTTPClient.Request, DeliveryFailure>], timeout: Duration
    ) async -> [Result<Response, DeliveryFailure>] {
        await Self.execute(planned, on: client, timeout: timeout)
    }

    static func execute(
        _ planned: [Result<HTTPClient.Request, DeliveryFailure>], on client: HTTPClient, timeout: Duration
    ) async -> [Result<Response, DeliveryFailure>] {
        var answers = await execute(planned.compactMap { try? $0.get() }, on: client, timeout: timeout)[...]
        return planned.map { request in
            switch request {
            case .failure(let failure): .failure(failure)
            case .success: answers.popFirst() ?? .failure(.connection("no answer"))
            }
        }
    }

    /// A POST to `url` with `headers` and `body`, or `failure` when `url` is not one.
    public static func post(
        _ url: String, headers: [(String, String)], body: [UInt8], orElse failure: DeliveryFailure
    ) -> Result<HTTPClient.Request, DeliveryFailure> {
        guard var request = try? HTTPClient.Request(url: url, method: .POST) else { return .failure(failure) }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(body)
        return .success(request)
    }

    /// What a request that got no answer comes to: a server that cannot be reached (refused, no route, no
    /// connection in time) is provider-wide; a TLS failure (the handshake, an untrusted certificate, one that does
    /// not hold the host's name) is the provider's configuration; a reply that did not
    /// come in time, a connection lost mid-request, or a body past `maxBodyBytes` is transient. Descriptions name no
    /// URL or credential.
    static func failure(_ error: any Error) -> DeliveryFailure {
        if error is ResponseAccumulator.ResponseTooBigError {
            return .responseTooLarge(limit: maxBodyBytes)
        }
        if let error = error as? HTTPClientError {
            switch error {
            case .connectTimeout, .getConnectionFromPoolTimeout:
                return .unreachable("no connection to the provider in time")
            case .readTimeout, .deadlineExceeded, .writeTimeout:
                return DeliveryFailure(code: "timeout", .transient, detail: "no answer from the provider in time")
            case .tlsHandshakeTimeout:
                return .unreachable("no TLS handshake with the provider in time")
            default:
                return .connection("HTTP client: \(error)")
            }
        }
        if error is NIOSSLError || error is NIOSSLExtraError || "\(type(of: error))".contains("BoringSSL") {
            return .tls("TLS with the provider failed: \(error)")
        }
        let text = "\(error)"
        if text.contains("refused") || text.contains("ECONNREFUSED") || text.contains("unreachable") {
            return .unreachable("the provider cannot be reached: \(String(text.prefix(200)))")
        }
        return .connection(String(text.prefix(200)))
    }

    /// Idempotent: a second call finds the client already shut down.
    public func shutdown() async {
        try? await client.shutdown()
    }
}
