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

    @Test("cluster nodes: host:port, a default port by scheme, IPv6 in brackets; tried after the URL's node, which is not repeated")
    func nodes() throws {
        #expect(try AMQPNode(parsing: "mq-2:5673", defaultPort: 5672) == AMQPNode(host: "mq-2", port: 5673))
        #expect(try AMQPNode(parsing: "mq-3", defaultPort: 5671) == AMQPNode(host: "mq-3", port: 5671))
        #expect(try AMQPNode(parsing: "[::1]:5674", defaultPort: 5672) == AMQPNode(host: "::1", port: 5674))
        #expect(try AMQPNode(parsing: "[fe80::1]", defaultPort: 5672) == AMQPNode(host: "fe80::1", port: 5672))
        for bad in ["", ":5672", "mq:0", "mq:99999", "mq:x", "user@mq", "[::1", "mq/vhost"] {
            #expect(throws: AMQPError.self, "\(bad)") { try AMQPNode(parsing: bad, defaultPort: 5672) }
        }
        var configuration = try AMQPConfiguration(url: "amqps://svc:secret@mq-1:5671/prod")
        configuration.alternateNodes = [
            AMQPNode(host: "mq-1", port: 5671), AMQPNode(host: "mq-2", port: 5671), AMQPNode(host: "mq-3", port: 5671),
        ]
        #expect(
            configuration.endpoints.map(\.description) == [
                "amqps://svc@mq-1:5671/prod", "amqps://svc@mq-2:5671/prod", "amqps://svc@mq-3:5671/prod",
            ])
        #expect(configuration.endpoints.allSatisfy { $0.password == "secret" && $0.tls && $0.vhost == "prod" })
    }

    @Test(
        "bad URLs are refused with a reason",
        arguments: [
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
