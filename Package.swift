// swift-tools-version:6.0
import PackageDescription

// Linux only: the sources use Glibc, epoll and libfcgi directly.
let staticSwift: [LinkerSetting] = [
    .unsafeFlags(["-static-stdlib"]), .linkedLibrary("_FoundationCShims"), .linkedLibrary("_FoundationCollections"),
]

let package = Package(
    name: "VisionQueue",
    products: [
        .executable(name: "vision-create", targets: ["vision-create"]),
        .executable(name: "vision-process", targets: ["vision-process"]),
        .executable(name: "vision-status", targets: ["vision-status"]),
        .executable(name: "vision-queue", targets: ["vision-queue"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-crypto", "4.5.2"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    ],
    targets: [
        // C libraries enter here and nowhere else. libcurl and libpq are opened on first use
        // (dlopen in their loader.c), not linked: an idle worker maps neither.
        .target(name: "CFastCGI", linkerSettings: [.linkedLibrary("fcgi")]),
        .target(name: "CCurl"),
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "CPostgres"),

        // The domain: jobs, categories, lifecycle, store, generator, endpoints as plain functions.
        .target(
            name: "VisionQueue",
            dependencies: [
                "CSQLite", "CPostgres", "CCurl",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        // Serves VisionQueue endpoints over libfcgi.
        .target(
            name: "FastCGI",
            dependencies: ["CFastCGI", "VisionQueue", .product(name: "CoreMetrics", package: "swift-metrics")]),

        // The worker binaries link the Swift runtime statically: each process then maps only the
        // pages it uses (about 18 MB resident when idle instead of 21 with shared libraries).
        .executableTarget(name: "vision-create", dependencies: ["FastCGI", "VisionQueue"], linkerSettings: staticSwift),
        .executableTarget(name: "vision-process", dependencies: ["FastCGI", "VisionQueue"], linkerSettings: staticSwift),
        .executableTarget(name: "vision-status", dependencies: ["FastCGI", "VisionQueue"], linkerSettings: staticSwift),
        .executableTarget(
            name: "vision-queue",
            dependencies: [
                "VisionQueue",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // What both test targets share: the conformance suite's databases (a SQLite file, a schema
        // on a real PostgreSQL server the tests start) and the store conveniences tests use.
        .target(name: "VisionQueueTestSupport", dependencies: ["VisionQueue"]),
        .testTarget(name: "VisionQueueTests", dependencies: ["VisionQueue", "VisionQueueTestSupport"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["VisionQueue", "VisionQueueTestSupport", .product(name: "Crypto", package: "swift-crypto")]
        ),
    ]
)
