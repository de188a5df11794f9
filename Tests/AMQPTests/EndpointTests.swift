import AMQP
import Testing

@Suite("AMQP URL parsing")
struct EndpointTests {
    @Test("the contract's default URL")
    func contractDefault() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://guest:guest@127.0.0.1:5672/%2f")
        #expect(endpoint == AMQPEndpoint.expected(host: "127.0.0.1", port: 5672, vhost: "/", tls: false))
    }

    @Test("defaults: port by scheme, guest credentials, vhost /")
    func defaults() throws {
        #expect(try AMQPEndpoint(url: "amqp://broker").port == 5672)
        #expect(try AMQPEndpoint(url: "amqps://broker").port == 5671)
        #expect(try AMQPEndpoint(url: "amqps://broker").tls)
        #expect(try AMQPEndpoint(url: "amqp://broker/").vhost == "/")
        #expect(try AMQPEndpoint(url: "amqp://broker").user == "guest")
    }

    @Test("percent-encoded credentials and vhost are decoded")
    func percentDecoding() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://us%40er:p%3Ass@mq.internal:5673/flow%2Fmart")
        #expect(endpoint.user == "us@er")
        #expect(endpoint.password == "p:ss")
        #expect(endpoint.vhost == "flow/mart")
    }

    @Test("the description never contains the password")
    func descriptionHidesPassword() throws {
        let endpoint = try AMQPEndpoint(url: "amqp://svc:s3cret-value@mq:5672/prod")
        #expect(!endpoint.description.contains("s3cret"))
        #expect(endpoint.description == "amqp://svc@mq:5672/prod")
    }

    @Test("bad URLs are refused with a reason", arguments: [
        "http://broker", "amqp://", "not a url", "amqp://broker:99999", "amqp://broker/a/b",
    ])
    func refused(url: String) {
        #expect(throws: AMQPError.self) { try AMQPEndpoint(url: url) }
    }
}

extension AMQPEndpoint {
    static func expected(host: String, port: Int, vhost: String, tls: Bool) -> AMQPEndpoint {
        var endpoint = try! AMQPEndpoint(url: "amqp://x")
        endpoint.host = host
        endpoint.port = port
        endpoint.vhost = vhost
        endpoint.tls = tls
        endpoint.hasPassword = true  // the URLs compared with it spell out guest:guest
        return endpoint
    }
}

@Suite("AMQP URL secrets")
struct EndpointSecretTests {
    @Test("whether a URL carries its own password is known, so argv can refuse one")
    func hasPassword() throws {
        #expect(try AMQPEndpoint(url: "amqp://svc:pw@mq/%2f").hasPassword)
        #expect(try !AMQPEndpoint(url: "amqp://svc@mq/%2f").hasPassword)
        #expect(try !AMQPEndpoint(url: "amqp://mq").hasPassword)
        #expect(try AMQPEndpoint(url: "amqp://svc:pw@mq/%2f").description == "amqp://svc@mq:5672/%2F")
    }
}
