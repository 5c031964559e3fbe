import Gossip
import Logging
import NIOPosix
import ServiceLifecycle
import Sodium

/// Gossip inside the peer: where the keyring and the incarnation live on disk, what this peer publishes about
/// itself, and a graceful leave on shutdown so the others record `left` rather than a failure.
final class GossipService: Service {
    let node: GossipNode
    let seeds: [String]
    let peersPath: String
    let logger: Logger

    /// `<dataDir>/gossip.keyring`: one base64 key per line, the primary first. Written on every keyring change
    /// so a rotation survives a restart.
    static func keyringPath(_ dataDirectory: String) -> String { dataDirectory + "/gossip.keyring" }
    static func incarnationPath(_ dataDirectory: String) -> String { dataDirectory + "/gossip.incarnation" }
    /// The members last seen alive, one address per line: a restarted peer rejoins through them even when
    /// it was started without --join (the first peer of a cluster is).
    static func peersPath(_ dataDirectory: String) -> String { dataDirectory + "/gossip.peers" }

    struct KeyError: Error, CustomStringConvertible {
        let description: String
    }

    /// Gossip's own event loop, for the life of the process: on the shared loops a burst of API and Raft
    /// traffic (a large cluster joining) delayed probes and acks.
    static let loopGroup = MultiThreadedEventLoopGroup(numberOfThreads: 1)

    init(configuration: PeerConfiguration, dataDirectory: DataDirectory, raftID: UInt64, logger: Logger) throws {
        let keyring = try Self.loadKeyring(configuration: configuration, dataDirectory: dataDirectory.path, logger: logger)
        let incarnationPath = Self.incarnationPath(dataDirectory.path)
        // A restarted peer starts above anything its previous life said, so its `alive` beats old suspicion.
        let previous = (try? SmallFile.read(incarnationPath)).flatMap { UInt64($0.trimmingWhitespace()) } ?? 0
        let configured = try configuration.joinAddresses().map { GossipNode.formatAddress(host: $0.host, port: $0.port) }
        let remembered = ((try? SmallFile.read(Self.peersPath(dataDirectory.path))) ?? "")
            .split(whereSeparator: \.isNewline).map { String($0).trimmingWhitespace() }.filter { !$0.isEmpty }
        self.seeds = configured + remembered.filter { !configured.contains($0) }
        self.peersPath = Self.peersPath(dataDirectory.path)
        self.logger = logger
        let settings = GossipNode.Settings(bindHost: configuration.bindAddress, port: configuration.gossipPort)
        self.node = GossipNode(
            settings: settings,
            keyring: keyring,
            metadata: Self.metadata(for: configuration, raftID: raftID),
            incarnation: previous + 1,
            persistIncarnation: { incarnation in
                do { try SmallFile.writeAtomically(incarnationPath, "\(incarnation)\n") } catch {
                    logger.error("cannot record the gossip incarnation", metadata: ["error": "\(error)"])
                }
            },
            group: Self.loopGroup,
            logger: logger
        )
    }

    static func metadata(for configuration: PeerConfiguration, raftID: UInt64) -> [String: String] {
        [
            "raftID": String(raftID, radix: 16),
            "name": configuration.name,
            "api": GossipNode.formatAddress(host: configuration.bindAddress, port: configuration.apiPort),
            "raft": GossipNode.formatAddress(host: configuration.bindAddress, port: configuration.raftPort),
            "version": PeerVersion.current,
            "runsPods": Peer.podsUnavailableReason(configuration) == nil ? "true" : "false",
        ].merging(NodeCapacity.gossipEntries(maxPods: configuration.maxPods)) { ours, _ in ours }
    }

    func run() async throws {
        let remembering = Task { await rememberPeers() }
        let joining = Task { await joinUntilSomeoneAnswers() }
        defer {
            remembering.cancel()
            joining.cancel()
        }
        try await withGracefulShutdownHandler {
            try await node.run()
        } onGracefulShutdown: {
            Task { await self.node.leave() }
        }
    }

    /// A seed may not be listening yet (peers are often started together): ask again, with back-off, until
    /// some member is alive in our view, and say so in the log while alone.
    func joinUntilSomeoneAnswers() async {
        guard !seeds.isEmpty else { return }
        var delay: Duration = .seconds(1)
        var attempt = 1
        while !Task.isCancelled {
            logger.info("joining the cluster", metadata: ["seeds": "\(seeds.joined(separator: ","))", "attempt": "\(attempt)"])
            node.join(seeds)
            try? await Task.sleep(for: delay)
            if node.members.contains(where: { $0.address != node.address && $0.status == .alive }) { return }
            delay = min(delay * 2, .seconds(30))
            logger.warning("no seed has answered yet; retrying", metadata: ["seeds": "\(seeds.joined(separator: ","))", "retryIn": "\(delay)"])
            attempt += 1
        }
    }

    /// Keeps `gossip.peers` up to date with the members seen alive, written only when the set changes.
    func rememberPeers() async {
        var written: Set<String> = []
        for await _ in node.events() {
            let alive = Set(node.members.filter { $0.status == .alive && $0.address != node.address }.map(\.address))
            guard alive != written, !alive.isEmpty else { continue }
            do {
                try SmallFile.writeAtomically(peersPath, alive.sorted().map { $0 + "\n" }.joined())
                written = alive
            } catch {
                logger.warning("cannot record the known peers", metadata: ["error": "\(error)"])
            }
        }
    }

    /// The keyring on disk wins: it may hold a rotation that happened after the key file was written.
    static func loadKeyring(configuration: PeerConfiguration, dataDirectory: String, logger: Logger) throws(KeyError) -> GossipKeyring {
        let path = keyringPath(dataDirectory)
        if SmallFile.exists(path) {
            let keys: [SecretBoxKey]
            do {
                keys = try SmallFile.read(path).split(whereSeparator: \.isNewline).map { line throws(SodiumError) in
                    try SecretBoxKey(base64: String(line).trimmingWhitespace())
                }
            } catch {
                throw KeyError(description: "gossip keyring \(path) is unreadable: \(error)")
            }
            guard let primary = keys.first else { throw KeyError(description: "gossip keyring \(path) holds no key") }
            return GossipKeyring(primary: primary, accepted: Array(keys.dropFirst()))
        }
        let key: SecretBoxKey
        if let file = configuration.gossipKeyFile {
            do {
                key = try SecretBoxKey(base64: try SmallFile.read(file).trimmingWhitespace())
            } catch {
                throw KeyError(description: "gossip key file \(file): \(error)")
            }
        } else if configuration.join.isEmpty {
            do { key = try SecretBoxKey.generate() } catch { throw KeyError(description: "cannot generate a gossip key: \(error)") }
            logger.notice("generated a new gossip key for this cluster; peers that join need it", metadata: ["keyring": "\(path)"])
        } else {
            throw KeyError(description: "joining a cluster needs its gossip key: pass --gossip-key-file FILE (the first peer keeps it in its data directory as gossip.keyring)")
        }
        let keyring = GossipKeyring(primary: key)
        try saveKeyring(keyring, dataDirectory: dataDirectory)
        return keyring
    }

    enum KeyringOperation: String, Codable, Sendable {
        case install, use, remove
    }

    /// Applies one rotation step on this peer and records the result, so it survives a restart.
    func changeKeyring(_ operation: KeyringOperation, key: SecretBoxKey, dataDirectory: String) async throws {
        try await node.changeKeyring { keyring in
            switch operation {
            case .install: keyring.install(key)
            case .use: try keyring.use(key)
            case .remove: try keyring.remove(key)
            }
        }
        try Self.saveKeyring(node.keyring, dataDirectory: dataDirectory)
        logger.notice("gossip keyring changed", metadata: ["operation": "\(operation.rawValue)", "keys": "\(node.keyring.keys.count)"])
    }

    static func saveKeyring(_ keyring: GossipKeyring, dataDirectory: String) throws(KeyError) {
        let text = keyring.keys.map { $0.base64EncodedString() + "\n" }.joined()
        do { try SmallFile.writeAtomically(keyringPath(dataDirectory), text) } catch {
            throw KeyError(description: "cannot write the gossip keyring: \(error)")
        }
    }
}
