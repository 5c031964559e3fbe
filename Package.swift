// swift-tools-version:6.1
import PackageDescription

// The release peer's link order (written by scripts/peer-order): lld places the functions a running peer
// executes together, so an idle peer maps few code pages (docs/BENCHMARKS.md, "Idle RSS and the function order").
let peerOrderFile = String(#filePath.dropLast("Package.swift".count)) + "Sources/peer/peer.order"
// Holds the linker script that points the release link's -lstdc++ at the static archive (see the peer target).
let staticLibstdcxxDirectory = String(#filePath.dropLast("Package.swift".count)) + "Sources/peer/link"
// Keeps the private helper functions the order file cannot name in one place (see the file).
let privateTextScript = String(#filePath.dropLast("Package.swift".count)) + "Sources/peer/private-text.ld"

let package = Package(
    name: "orchestrator",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "peer", targets: ["peer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.3"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        // No traits: the defaults (FullFoundation, ConfigurationSupport) would link all of Foundation into every peer.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-crypto", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // libsodium (Debian's libsodium-dev); `Sodium` is the only module allowed to touch it. The release peer
        // links the static archive (only the functions it calls, no symbol tables for the loader to read).
        .systemLibrary(name: "CSodium", path: "Sources/CSodium", providers: [.apt(["libsodium-dev"])]),
        .target(name: "Sodium", dependencies: ["CSodium"], linkerSettings: [
            .linkedLibrary("sodium", .when(configuration: .debug)),
            .unsafeFlags(["-Xlinker", "-l:libsodium.a"], .when(configuration: .release)),
        ]),

        // SWIM with Lifeguard: the pure core beside its UDP/TCP shell.
        .target(name: "Gossip", dependencies: [
            "Sodium",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),

        // Raft, the cluster store and its write-ahead log; the pure core lives beside its TCP and file shells.
        .target(name: "Consensus", dependencies: [
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
        ]),

        // The Kubernetes resource model shared by the API, Placement and the node agent: JSON trees that never
        // drop a field, typed views, validation and defaulting in Kubernetes' words, selectors, patches.
        .target(name: "ResourceModel"),

        // The scheduling leader's pure core: the scheduler and the controllers.
        .target(name: "Placement", dependencies: ["ResourceModel"]),
        // `scripts/bench-placement`: the scheduler against synthetic clusters (a benchmark, not shipped).
        .executableTarget(name: "placement-bench", dependencies: ["Placement", "ResourceModel"], path: "bench/placement/Sources"),

        // Each peer's node agent: the content-addressed image store and its provenance checks, the pod-sync
        // loop (a pure core) and its runc, CNI, probe, volume and log shells.
        .target(name: "NodeAgent", dependencies: [
            "ResourceModel",
            "Sodium",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ]),

        // Wiring of the `peer` process: configuration, data directory, services. `peer` stays a thin CLI.
        .target(name: "PeerDaemon", dependencies: [
            "Consensus",
            "Gossip",
            "NodeAgent",
            "Placement",
            "ResourceModel",
            "Sodium",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "X509", package: "swift-certificates"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Metrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "peer", dependencies: [
            "PeerDaemon",
            "NodeAgent",
            "Sodium",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], exclude: ["peer.order", "private-text.ld", "link"], linkerSettings: [
            // Idle RSS (docs/BENCHMARKS.md, Gossip): a static Swift runtime and FoundationEssentials map only the code
            // the peer uses; packed relative relocations and no exported Swift symbols keep the relocation and
            // symbol tables, which the dynamic loader reads at start, out of memory. Measured −9 MiB per peer.
            // The function order packs the code a running peer executes (names it no longer has are skipped).
            .unsafeFlags([
                "-static-stdlib",
                "-lFoundationEssentials", "-l_FoundationCShims", "-l_FoundationCollections",
                "-lswiftSynchronization", "-lswiftDispatch", "-ldispatch", "-lBlocksRuntime",
                // -lstdc++ finds Sources/peer/link/libstdc++.so first, a linker script naming the static archive:
                // the shared library's symbol tables and start-up cost 1 MiB of every peer.
                "-L\(staticLibstdcxxDirectory)", "-lstdc++", "-lm",
                // The unwinder from libgcc_eh.a as well, not libgcc_s.so: 0.15 MiB less per peer.
                "-Xclang-linker", "-static-libgcc",
                "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
                "-Xlinker", "--no-export-dynamic",
                "-Xlinker", "--symbol-ordering-file=\(peerOrderFile)", "-Xlinker", "--no-warn-symbol-ordering",
                "-Xlinker", "-T", "-Xlinker", privateTextScript,
            ], .when(platforms: [.linux], configuration: .release)),
        ]),

        // The deterministic simulator shared by the protocol cores' tests; a test-support library, not shipped.
        .target(name: "Simulation", path: "Tests/Simulation", exclude: ["README.md"]),

        .testTarget(name: "SimulationTests", dependencies: ["Simulation"]),
        .testTarget(name: "SodiumTests", dependencies: ["Sodium"]),
        .testTarget(name: "ResourceModelTests", dependencies: ["ResourceModel", "Simulation"]),
        // Yams only here: the differential test reads a corpus with both readers.
        .testTarget(name: "YAMLReaderTests", dependencies: ["ResourceModel", "Simulation", .product(name: "Yams", package: "Yams")]),
        .testTarget(name: "PlacementTests", dependencies: ["Placement", "ResourceModel", "Simulation"]),
        .testTarget(name: "KubernetesAPITests", dependencies: [
            "PeerDaemon", "ResourceModel", "Consensus", "Simulation", "Sodium",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
            .product(name: "X509", package: "swift-certificates"),
        ]),
        .testTarget(name: "GossipTests", dependencies: ["Gossip", "Simulation", "Sodium"]),
        .testTarget(name: "PeerTests", dependencies: ["PeerDaemon", "Consensus", "ResourceModel", "Simulation"]),
        .testTarget(name: "ConsensusTests", dependencies: ["Consensus", "Simulation"]),
        .testTarget(name: "NodeAgentTests", dependencies: ["NodeAgent", "ResourceModel", "Sodium"]),
        // Real peers in network namespaces that the tests create and remove, under a nemesis.
        .testTarget(name: "EndToEndTests", dependencies: ["PeerDaemon", "NodeAgent", "Simulation"]),
    ],
    swiftLanguageModes: [.v6]
)

// Release builds of our modules put each function in its own section, so the peer's link order can place it.
// Dependencies get the same from `-Xswiftc -Xfrontend -Xswiftc -function-sections` on the build command.
for target in package.targets where target.type == .regular || target.type == .executable {
    target.swiftSettings = (target.swiftSettings ?? []) + [
        .unsafeFlags(["-Xfrontend", "-function-sections"], .when(platforms: [.linux], configuration: .release)),
    ]
}
