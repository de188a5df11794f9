import NotifyCore
import Providers
import Synchronization

/// Whether each configured provider takes work, as the delivery worker last found it: down from a provider-wide
/// failure (unreachable, TLS or AUTH refused; the worker holds that provider's batch and tries again with backoff)
/// until a send through it gets an answer. Readiness and `notify_provider_up` read it.
final class ProviderHealth: Sendable {
    struct Entry: Sendable, Equatable {
        var channel: NotificationChannel
        var provider: String
        var endpoint: String
        /// Why it is down (a failure's code and class, never a server's text); nil while it is up.
        var down: String?
    }

    private let entries: Mutex<[NotificationChannel: Entry]>

    init(_ providers: [NotificationChannel: any DeliveryProvider]) {
        entries = Mutex(providers.mapValues { Entry(channel: $0.channel, provider: $0.name, endpoint: $0.endpoint) })
    }

    func markDown(_ channel: NotificationChannel, because failure: DeliveryFailure) {
        entries.withLock { $0[channel]?.down = failure.description }
    }

    func markUp(_ channel: NotificationChannel) {
        entries.withLock { $0[channel]?.down = nil }
    }

    var all: [Entry] { entries.withLock { $0.values.sorted { $0.channel.rawValue < $1.channel.rawValue } } }
}
