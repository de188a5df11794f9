import Foundation
import NotifyCore
import Providers
import Synchronization

/// Each configured provider's circuit breaker (`CircuitBreaker`), shared by the delivery workers of this daemon:
/// they ask it which provider of a channel takes work now (the first of the channel's list whose breaker admits
/// calls: failover) and record what every send came to. Readiness, `notify_provider_up` and
/// `notify_provider_breaker_state` read it.
final class ProviderHealth: Sendable {
    struct Entry: Sendable, Equatable {
        var channel: NotificationChannel
        var provider: String
        var endpoint: String
        var breaker: CircuitBreaker
        /// False for a provider whose failures are each destination's own (webhooks): its breaker never opens.
        var judged: Bool

        /// Why it takes no work (its breaker's reason; never a server's text); nil while closed.
        var down: String? {
            switch breaker.state {
            case .closed: nil
            case .open: "open: \(breaker.reason ?? "failing")"
            case .halfOpen: "half-open: probing after \(breaker.reason ?? "failing")"
            }
        }
    }

    private let entries: Mutex<[String: Entry]>

    init(_ providers: [NotificationChannel: [any DeliveryProvider]], policy: BreakerPolicy) {
        var entries: [String: Entry] = [:]
        for provider in providers.values.joined() {
            entries[provider.name] = Entry(
                channel: provider.channel, provider: provider.name, endpoint: provider.endpoint, breaker: CircuitBreaker(policy: policy),
                judged: provider.usesBreaker)
        }
        self.entries = Mutex(entries)
    }

    /// The first provider of `chain` that takes calls now, with how many it takes; nil when every breaker is
    /// open (or the chain is empty).
    func pick(_ chain: [any DeliveryProvider], now: Double = Date().timeIntervalSince1970) -> (provider: any DeliveryProvider, calls: Int)?
    {
        entries.withLock { entries in
            for provider in chain {
                let calls = entries[provider.name]?.breaker.admits(now: now) ?? .max
                if calls > 0 { return (provider, calls) }
            }
            return nil
        }
    }

    /// The last failure that counted against the first provider of `chain` that has one: why its work is held.
    func lastFailure(_ chain: [any DeliveryProvider]) -> DeliveryFailure? {
        entries.withLock { entries in chain.compactMap { entries[$0.name]?.breaker.lastFailure }.first }
    }

    /// When the first breaker of `chain` admits calls again.
    func reopensAt(_ chain: [any DeliveryProvider]) -> Double? {
        entries.withLock { entries in chain.compactMap { entries[$0.name]?.breaker.reopensAt }.min() }
    }

    /// Records one send's results; returns the change of the provider's breaker, if any.
    func record(_ provider: String, _ results: [DeliveryResult], now: Double = Date().timeIntervalSince1970) -> CircuitBreaker.Change? {
        entries.withLock { entries in
            guard entries[provider]?.judged == true else { return nil }
            return entries[provider]?.breaker.record(results, now: now)
        }
    }

    var all: [Entry] { entries.withLock { $0.values.sorted { ($0.channel.rawValue, $0.provider) < ($1.channel.rawValue, $1.provider) } } }
}
