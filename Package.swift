// swift-tools-version:6.2
import PackageDescription

let package = Package(
    name: "flowmart-notify",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "notifyd", targets: ["notifyd"]),
        .executable(name: "notifyctl", targets: ["notifyctl"]),
        .executable(name: "notify-bench", targets: ["notify-bench"]),
        .executable(name: "notify-chaos", targets: ["notify-chaos"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache", from: "2.1.1"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.1"),
        // The providers (SMTP, and HTTP through async-http-client) run on SwiftNIO; TLS through swift-nio-ssl.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        // The daemon's HTTP listener (the API, health, metrics, receipts).
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // The HTTP parts between the listener's parser and Hummingbird (`RequestGate`).
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        // The HTTP providers' client.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        // Metrics through the swift-metrics API, exposed in Prometheus' text format.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // HMAC for provider signatures (Twilio's, Standard Webhooks'); 4.x, as jwt-kit 5 needs.
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // JWTs for providers' credentials: FCM's service-account assertion (RS256), APNs' provider token (ES256).
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.8.0"),
        // X.509 for the certificates SNS signs SES's events with (already a dependency of jwt-kit).
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
    ],
    targets: [
        // C shims: the only places C headers enter the package.
        .systemLibrary(name: "CRabbitMQ", pkgConfig: "librabbitmq", providers: [.apt(["librabbitmq-dev"])]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),

        // What every retry loop shares: the backoff schedule and the shape of errors that say whether to retry.
        .target(name: "Resilience"),
        // AMQP 0-9-1 client over librabbitmq: the only importer of CRabbitMQ.
        .target(
            name: "AMQP",
            dependencies: [
                "CRabbitMQ", "Resilience",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Calendar arithmetic shared by the PostgreSQL client and the domain (both parse timestamps on hot paths).
        .target(name: "CivilDate"),
        // PostgreSQL client over libpq: the only importer of CLibPQ.
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ", "CivilDate", "Resilience",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Domain logic: no C, no sockets. (swift-crypto for hashing API keys: pure functions, no I/O.)
        .target(
            name: "NotifyCore",
            dependencies: [
                "CivilDate", .product(name: "Mustache", package: "swift-mustache"), .product(name: "Crypto", package: "swift-crypto"),
            ]),

        // Everything that talks to a delivery provider (SMTP, HTTP APIs), with its network dependencies: the only
        // importer of NIO, async-http-client and the JWT library.
        .target(
            name: "Providers",
            dependencies: [
                "NotifyCore", "CivilDate",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),

        // The database of the service: migrations and every SQL statement, one file per table family.
        .target(name: "NotifyStore", dependencies: ["Postgres", "NotifyCore"]),

        .executableTarget(
            name: "notifyd",
            dependencies: [
                "AMQP", "Resilience", "Postgres", "NotifyCore", "NotifyStore", "Providers",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .executableTarget(
            name: "notifyctl",
            dependencies: [
                "AMQP", "NotifyCore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // The rigs (Sources/Rigs): the benchmarks, the cluster checker and what they and the tests share.
        .executableTarget(
            name: "notify-bench",
            dependencies: [
                "AMQP", "Postgres", "NotifyCore", "NotifyStore", "Providers", "StackSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Sources/Rigs/notify-bench"
        ),

        // The cluster checker: load, faults and a verdict on lost and duplicated effects (`make chaos`, `make soak`).
        .executableTarget(
            name: "notify-chaos",
            dependencies: [
                "AMQP", "Postgres", "NotifyStore", "StackSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "Sources/Rigs/notify-chaos"
        ),
        // What the rigs and the test suites share: the stack's URLs and controls, daemons and peers as processes.
        .target(
            name: "StackSupport", dependencies: ["Postgres", .product(name: "Logging", package: "swift-log")],
            path: "Sources/Rigs/StackSupport"),
        // Unit tests, one target per module, named for it: no server, no process, no environment (`make check`).
        .testTarget(
            name: "NotifyCoreTests", dependencies: ["NotifyCore", .product(name: "PropertyBased", package: "swift-property-based")]),
        .testTarget(name: "AMQPTests", dependencies: ["AMQP", "Resilience"]),
        .testTarget(name: "PostgresTests", dependencies: ["Postgres", .product(name: "Logging", package: "swift-log")]),
        .testTarget(
            name: "ProvidersTests",
            dependencies: [
                "Providers", "NotifyCore", .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "_CryptoExtras", package: "swift-crypto"), .product(name: "X509", package: "swift-certificates"),
            ]
        ),
        .testTarget(name: "NotifyStoreTests", dependencies: ["NotifyStore"]),
        .testTarget(
            name: "NotifydTests",
            dependencies: [
                "notifyd", "StackSupport", .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),

        // Tests that need the local stack's PostgreSQL and nothing else; skipped without its environment.
        .testTarget(
            name: "StoreTests", dependencies: ["Postgres", "StackSupport", .product(name: "Logging", package: "swift-log")]),
        // Tests that need the local stack (RabbitMQ, PostgreSQL, the SMTP server, the providers' fakes), run daemons
        // as processes, break the stack on purpose, or need the cluster stack; skipped without their environment.
        .testTarget(
            name: "SystemTests",
            dependencies: [
                "notifyd", "AMQP", "Postgres", "NotifyCore", "NotifyStore", "Providers", "StackSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["Schemas"]
        ),
    ]
)

// Swift 6 language mode everywhere; warnings are treated as defects by .ci/run.
for target in package.targets where target.type != .system {
    target.swiftSettings =
        (target.swiftSettings ?? []) + [
            .swiftLanguageMode(.v6),
            .enableUpcomingFeature("ExistentialAny"),
        ]
}

// `make check` builds and runs the unit targets alone. On Linux a package has one test bundle, linking every test
// target; with NOTIFY_TESTS=unit the package keeps the unit targets and what they test (not StoreTests, SystemTests,
// notifyctl or the rigs), under another name, so their bundle (`flowmart-notify-unitPackageTests.xctest`) sits
// beside the whole suite's in .build and neither relinks the other.
if Context.environment["NOTIFY_TESTS"] == "unit" {
    let apart = ["StoreTests", "SystemTests", "notifyctl", "notify-bench", "notify-chaos"]
    package.name = "flowmart-notify-unit"
    package.products.removeAll { apart.contains($0.name) }
    package.targets.removeAll { apart.contains($0.name) }
}
