import AsyncHTTPClient
import Foundation
import X509

/// The certificates SNS signs with, by URL. Whoever can post to `/receipts/ses` chooses the URL, so fetching is
/// bounded: at most `fetchesPerMinute` fetches start in any minute (past that a message answers 503 and SNS sends
/// it again later), one at a time per URL (concurrent messages naming it share the fetch), and at most `capacity`
/// certificates are kept (SNS signs with one per region at a time and rotates it rarely), the oldest going first.
/// A kept certificate is fetched again after a day; if that fetch is refused or fails, the kept one serves on
/// (its own validity is checked with every signature), so strangers spending the budget never lock SNS out.
actor SigningCertificates {
    struct Unavailable: Error, Equatable {
        var reason: String
    }

    typealias Fetch = @Sendable (_ url: String) async -> Result<Certificate, Unavailable>

    static let capacity = 16
    static let fetchesPerMinute = 5
    static let refreshAfter: TimeInterval = 86_400

    private let fetch: Fetch
    private var cached: [String: (certificate: Certificate, fetched: Date)] = [:]
    /// When each fetch of the last minute started; at most `fetchesPerMinute`.
    private var started: [Date] = []
    private var pending: [String: Task<Result<Certificate, Unavailable>, Never>] = [:]

    init(transport: HTTPTransport) {
        self.init { url in await Self.fetch(url, through: transport) }
    }

    init(fetch: @escaping Fetch) { self.fetch = fetch }

    func certificate(at url: String, now: Date = Date()) async -> Result<Certificate, Unavailable> {
        let kept = cached[url]
        if let kept, now.timeIntervalSince(kept.fetched) < Self.refreshAfter { return .success(kept.certificate) }
        let fetching: Task<Result<Certificate, Unavailable>, Never>
        if let shared = pending[url] {
            fetching = shared
        } else {
            started.removeAll { now.timeIntervalSince($0) >= 60 }
            guard started.count < Self.fetchesPerMinute else {
                return kept.map { .success($0.certificate) }
                    ?? .failure(Unavailable(reason: "more than \(Self.fetchesPerMinute) SNS signing certificate fetches in a minute"))
            }
            started.append(now)
            fetching = Task { [fetch] in await fetch(url) }
            pending[url] = fetching
        }
        let result = await fetching.value
        if pending[url] == fetching { pending[url] = nil }
        switch result {
        case .success(let certificate):
            keep(certificate, at: url, now: now)
            return result
        case .failure:
            return kept.map { .success($0.certificate) } ?? result
        }
    }

    private func keep(_ certificate: Certificate, at url: String, now: Date) {
        if cached[url] == nil, cached.count >= Self.capacity, let oldest = cached.min(by: { $0.value.fetched < $1.value.fetched })?.key {
            cached[oldest] = nil
        }
        cached[url] = (certificate, now)
    }

    /// A GET of `url`, its body (at most `HTTPTransport.maxBodyBytes`) a PEM certificate.
    static func fetch(_ url: String, through transport: HTTPTransport) async -> Result<Certificate, Unavailable> {
        guard let request = try? HTTPClient.Request(url: url, method: .GET) else {
            return .failure(Unavailable(reason: "not a certificate URL"))
        }
        switch await transport.execute([request], timeout: .seconds(10))[0] {
        case .failure(let failure):
            return .failure(Unavailable(reason: "cannot fetch the SNS signing certificate: \(failure.detail)"))
        case .success(let response):
            guard response.status == 200, let certificate = try? Certificate(pemEncoded: String(decoding: response.body, as: UTF8.self))
            else {
                return .failure(Unavailable(reason: "the SNS signing certificate URL answered \(response.status) without a certificate"))
            }
            return .success(certificate)
        }
    }
}
