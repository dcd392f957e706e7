// swift-tools-version:6.2
//
// Berth: a container agent daemon for Linux hosts, compatible with Amazon ECS.
// Layers and their rules are described in ../shared/DESIGN.md; each target is one layer with
// narrow dependencies. Versions are pinned exactly: Package.resolved is not committed.

import PackageDescription

/// Settings shared by every target: Swift 6 language mode (strict concurrency) plus the upcoming
/// features that keep module boundaries honest.
let strictSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

let package = Package(
    name: "berth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "berth", targets: ["berth"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", exact: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", exact: "2.101.3"),
        .package(url: "https://github.com/apple/swift-nio-extras", exact: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client", exact: "1.37.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", exact: "2.0.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", exact: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", exact: "2.8.1"),
        .package(url: "https://github.com/apple/swift-crypto", exact: "3.12.3"),
        .package(url: "https://github.com/apple/swift-http-types", exact: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", exact: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", exact: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", exact: "2.4.1"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
    ],
    targets: [
        // ECS domain types shared by every layer. Depends on nothing.
        .target(
            name: "BerthModel",
            swiftSettings: strictSettings
        ),
        // /etc/ecs/ecs.config + environment -> typed configuration, defaults, clamps, diagnostics.
        .target(
            name: "BerthConfig",
            dependencies: ["BerthModel"],
            swiftSettings: strictSettings
        ),
        // Docker Engine API client over the Unix socket. Knows nothing about ECS.
        .target(
            name: "DockerEngine",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The agent's conversation with a control plane: the protocol both sides speak, and its in-process
        // implementation for the embedded control plane.
        .target(
            name: "BerthAgentChannel",
            dependencies: ["BerthModel", "DockerEngine"],
            swiftSettings: strictSettings
        ),
        // The task engine: per-task state machines, dependency ordering, images, Docker events, state-change
        // reporting, cleanup, registration, recovery.
        .target(
            name: "BerthAgent",
            dependencies: [
                "BerthModel",
                "BerthConfig",
                "BerthAgentChannel",
                "DockerEngine",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // The cluster manager and the RunTask / StartTask scheduler: placement as pure functions, state behind
        // the ClusterStore protocol, the control plane's side of the agent channel. No HTTP.
        .target(
            name: "BerthControlPlane",
            dependencies: [
                "BerthModel",
                "BerthAgentChannel",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // libsystemd's sd_notify and watchdog (libsystemd-dev).
        .systemLibrary(
            name: "CSystemd",
            pkgConfig: "libsystemd",
            providers: [.apt(["libsystemd-dev"])]
        ),
        // systemd's notification protocol and the journal log handler, over CSystemd.
        .target(
            name: "BerthSystemd",
            dependencies: ["CSystemd", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strictSettings
        ),
        // AWS Signature Version 4 verification (swift-crypto).
        .target(
            name: "SigV4",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: strictSettings
        ),
        // The agent's side of the network channel to `berth control-plane`: the signed ECS API for registration
        // and state changes, the ACS WebSocket for payloads. What an agent needs only; no server, no state.
        // Many simulated container instances in one process, over the real network channel, without Docker:
        // `berth-bench simulate-agents` and the scale benchmarks and tests.
        .target(
            name: "BerthFleetSimulator",
            dependencies: [
                "BerthAgentChannel",
                "BerthModel",
                "BerthRemoteChannel",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "BerthRemoteChannel",
            dependencies: [
                "BerthAgentChannel",
                "BerthModel",
                "SigV4",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // HTTP: the ECS JSON 1.1 API (Hummingbird), validated against the model's shapes.
        .target(
            name: "BerthAPI",
            dependencies: [
                "BerthAgent",
                "BerthModel",
                "BerthAgentChannel",
                "BerthControlPlane",
                "DockerEngine",
                "SigV4",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Persistence in SQLite (GRDB): the agent's state under ECS_DATADIR.
        .target(
            name: "BerthStore",
            dependencies: [
                "BerthAgent",
                "BerthConfig",
                "BerthControlPlane",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        // Test doubles and scoped fixtures: a stub HTTP server on a Unix socket or loopback port, an
        // in-memory dockerd, an in-memory agent store, a recording control plane.
        .target(
            name: "BerthTestSupport",
            dependencies: [
                "BerthAgent",
                "BerthAgentChannel",
                "BerthConfig",
                "BerthControlPlane",
                "BerthModel",
                "DockerEngine",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The composition root: builds the ServiceGroup of `berth agent` from a configuration.
        .target(
            name: "BerthDaemon",
            dependencies: [
                "BerthAgent",
                "BerthAgentChannel",
                "BerthAPI",
                "BerthConfig",
                "BerthControlPlane",
                "BerthRemoteChannel",
                "BerthStore",
                "DockerEngine",
                "SigV4",
                "BerthSystemd",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                "BerthModel",
            ],
            swiftSettings: strictSettings
        ),
        // Writes the version (VERSION) and git commit into the `berth` executable.
        .plugin(name: "BuildInfo", capability: .buildTool()),
        // The executable: argument parsing and wiring only.
        .executableTarget(
            name: "berth",
            dependencies: [
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                "BerthAgent",
                "BerthConfig",
                "BerthDaemon",
                "BerthSystemd",
                "DockerEngine",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings,
            plugins: ["BuildInfo"]
        ),

        // `make bench`: Berth against dockerd used directly, in one run.
        .executableTarget(
            name: "berth-bench",
            dependencies: [
                "BerthAPI",
                "BerthAgentChannel",
                "BerthConfig",
                "BerthControlPlane",
                "BerthDaemon",
                "BerthFleetSimulator",
                "BerthRemoteChannel",
                "BerthStore",
                "BerthTestSupport",
                "DockerEngine",
                "SigV4",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),

        .testTarget(
            name: "BerthModelTests",
            dependencies: [
                "BerthModel",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BerthSystemdTests",
            dependencies: [
                "BerthSystemd",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BerthDaemonTests",
            dependencies: [
                "BerthAgent",
                "BerthConfig",
                "BerthDaemon",
                "BerthModel",
                "BerthRemoteChannel",
                "BerthSystemd",
                "BerthTestSupport",
                "DockerEngine",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BerthConfigTests",
            dependencies: [
                "BerthConfig",
                "BerthModel",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "DockerEngineTests",
            dependencies: [
                "DockerEngine",
                "BerthTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSettings
        ),
        // Runs against the real dockerd and the two local registries that `make test` starts.
        .testTarget(
            name: "DockerEngineIntegrationTests",
            dependencies: [
                "DockerEngine",
                "BerthTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BerthAgentTests",
            dependencies: [
                "BerthAgent",
                "BerthConfig",
                "BerthModel",
                "BerthStore",
                "DockerEngine",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BerthStoreTests",
            dependencies: [
                "BerthAgent",
                "BerthAgentChannel",
                "BerthControlPlane",
                "BerthModel",
                "BerthStore",
                "BerthConfig",
                "BerthTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSettings
        ),
        // Runs the agent in process against the real dockerd and the local registries that `make test` starts.
        .testTarget(
            name: "BerthAgentIntegrationTests",
            dependencies: [
                "BerthAgent",
                "BerthAgentChannel",
                "BerthConfig",
                "BerthModel",
                "BerthStore",
                "BerthTestSupport",
                "DockerEngine",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The aws CLI against `berth agent` on the real dockerd: the ECS walkthrough and its neighbours.
        .testTarget(
            name: "BerthAcceptanceTests",
            dependencies: [
                "berth",
                "BerthAgent",
                "BerthModel",
                "BerthTestSupport",
                "DockerEngine",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BerthAgentChannelTests",
            dependencies: [
                "BerthAgentChannel",
                "BerthModel",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BerthControlPlaneTests",
            dependencies: [
                "BerthAgentChannel",
                "BerthControlPlane",
                "BerthModel",
                "BerthTestSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "BerthAPITests",
            dependencies: [
                "BerthAPI",
                "BerthAgent",
                "BerthAgentChannel",
                "BerthControlPlane",
                "BerthModel",
                "BerthTestSupport",
                "DockerEngine",
                "SigV4",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings
        ),
        // The agent channel's contract, in process and over the network against a live control plane.
        .testTarget(
            name: "BerthRemoteChannelTests",
            dependencies: [
                "BerthAPI",
                "BerthAgentChannel",
                "BerthControlPlane",
                "BerthFleetSimulator",
                "BerthModel",
                "BerthRemoteChannel",
                "BerthTestSupport",
                "SigV4",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdWSClient", package: "hummingbird-websocket"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Runs the built `berth` binary as an operator would.
        .testTarget(
            name: "BerthCLITests",
            dependencies: ["berth", "BerthTestSupport"],
            swiftSettings: strictSettings
        ),
    ]
)
