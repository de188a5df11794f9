import Hummingbird
import NIOCore

/// The request context of the listener's routes: Hummingbird's, with the connection the request came on, so a
/// route can tell the connection's `RequestGate` to read the body and can name the peer's address.
struct ListenerContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    let channel: any Channel

    init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    /// The peer's IP address (a proxy's, behind one: forwarded headers are the caller's word, not evidence).
    var clientAddress: String? { channel.remoteAddress?.ipAddress }
}
