// swift-tools-version:6.0
// Swift 6 language mode (strict concurrency) is the default for tools version 6.
import PackageDescription

let package = Package(
    name: "gpoll-kit",
    products: [
        .library(name: "GPollCore", targets: ["GPollCore"]),
        .library(name: "GPollSpec", targets: ["GPollSpec"]),
        .library(name: "JUnitXML", targets: ["JUnitXML"]),
        .library(name: "GPollServer", targets: ["GPollServer"]),
        .library(name: "GPollCluster", targets: ["GPollCluster"]),
        .library(name: "GPollWire", targets: ["GPollWire"]),
        .library(name: "GPollConformance", targets: ["GPollConformance"]),
        .executable(name: "gpoll-server", targets: ["gpoll-server"]),
        .executable(name: "gpoll-conform", targets: ["gpoll-conform"]),
        .executable(name: "gpoll-bench", targets: ["gpoll-bench"]),
        .library(name: "GPollClient", targets: ["GPollClient"]),
        .executable(name: "gpoll", targets: ["gpoll"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // Runs child processes: the client under test of gpoll-conform client, and the
        // tests' programs (Foundation's Process crashes with many open descriptors).
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system.git", from: "1.5.0"),  // FilePath, for Subprocess
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        // The reference server's operations: metrics (swift-metrics, exposed in Prometheus'
        // text format at the admin listener's /metrics) and settings from flags, the
        // environment and a file (swift-configuration).
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0"),
        // The cluster's bus: messages as rows, LISTEN/NOTIFY as the wake-up (GPollCluster).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
    ],
    targets: [
        // The protocol as pure value types: no I/O, standard library and Foundation only.
        .target(name: "GPollCore"),

        // Spec/catalog.json as Swift values (embedded, generated), and the check that
        // the prose specification, the catalog and a case registry agree.
        .target(name: "GPollSpec"),

        // libxml2, for writing JUnit XML with its text writer and for schema validation in tests.
        .systemLibrary(
            name: "CLibXML2",
            pkgConfig: "libxml-2.0",
            providers: [.apt(["libxml2-dev"])]
        ),
        .target(name: "JUnitXML", dependencies: ["CLibXML2"]),

        // The reference server as a library: NIO channel handler + broadcaster around GPollCore.
        .target(
            name: "GPollServer",
            dependencies: [
                "GPollCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOExtras", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "SystemPackage", package: "swift-system"),
            ]
        ),
        // Several gpoll-server nodes serving the same endpoints, with PostgreSQL as the bus.
        .target(
            name: "GPollCluster",
            dependencies: [
                "GPollServer",
                "GPollCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "gpoll-server",
            dependencies: [
                "GPollServer",
                "GPollCluster",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),

        // A raw HTTP/1.1 client over NIO: any bytes out, whole responses in, FIN or RST,
        // with a transcript. The tester's, the server tests' and the bench publisher's.
        .target(
            name: "GPollWire",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),

        // The conformance tester: Spec's case registry, the cases, the runner, the reports.
        .target(
            name: "GPollConformance",
            dependencies: [
                "GPollCore",
                "GPollSpec",
                "GPollWire",
                "JUnitXML",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ]
        ),
        .executableTarget(
            name: "gpoll-conform",
            dependencies: [
                "GPollConformance",
                // FileDescriptorLimit only: the stress tier holds 10,000 connections.
                "GPollServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // The load and benchmark tool: options, statistics, the HTTP load driver, the in-process benchmark.
        .target(
            name: "GPollBench",
            dependencies: [
                "GPollCore",
                "GPollServer",
                "GPollWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .executableTarget(
            name: "gpoll-bench",
            dependencies: [
                "GPollBench",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // For tests only, in no product: running a program with a deadline, and a long-running child.
        .target(
            name: "GPollTestSupport",
            dependencies: [
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Tests/GPollTestSupport"
        ),

        .testTarget(name: "GPollTestSupportTests", dependencies: ["GPollTestSupport"]),
        // A client of any gpoll/1.1 endpoint (Spec section 19) on async-http-client, and its command.
        .target(
            name: "GPollClient",
            dependencies: [
                "GPollCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .executableTarget(
            name: "gpoll",
            dependencies: [
                "GPollClient", "GPollCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),

        .testTarget(name: "GPollCoreTests", dependencies: ["GPollCore"]),
        .testTarget(name: "SpecTests", dependencies: ["GPollSpec"]),
        // Schemas/ holds the JUnit XSDs the tests validate against (read via #filePath).
        .testTarget(name: "JUnitXMLTests", dependencies: ["JUnitXML", "CLibXML2"], exclude: ["Schemas"]),
        .testTarget(
            name: "GPollServerTests",
            dependencies: [
                "GPollServer", "GPollCore", "GPollWire", "GPollTestSupport",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        .testTarget(
            name: "GPollConformanceTests",
            dependencies: [
                "GPollConformance", "GPollServer", "GPollCore", "GPollSpec", "GPollWire", "JUnitXML", "GPollTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            // Clients/ holds the Python clients and the gpoll.js wake script the tests run (read via #filePath).
            exclude: ["Clients"]
        ),
        .testTarget(
            name: "GPollClientTests",
            dependencies: [
                "GPollClient", "GPollServer", "GPollCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The demo page, gpoll.js and CORS in headless Chromium, driven over the DevTools protocol (WebSocket).
        .testTarget(
            name: "GPollBrowserTests",
            dependencies: [
                "GPollServer", "GPollCore", "GPollTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ]
        ),
        // A real PostgreSQL and nginx, started by the tests (.ci/run installs them).
        .testTarget(
            name: "GPollClusterTests",
            dependencies: [
                "GPollCluster", "GPollServer", "GPollCore", "GPollWire", "GPollTestSupport", "GPollConformance", "GPollSpec",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "GPollBenchTests",
            dependencies: [
                "GPollBench", "GPollServer", "GPollCore", "GPollTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
    ]
)
