import Hummingbird
import Logging
import ServiceLifecycle

public enum PeerVersion {
    public static let current = "0.1.0"
}

/// One running peer: owns the data directory lock and the services that make up the process, and shuts them
/// down in order on SIGTERM or SIGINT.
public struct Peer: Sendable {
    public let configuration: PeerConfiguration
    let logger: Logger

    public init(configuration: PeerConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public struct StartError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs until a shutdown signal arrives; returns normally after a clean shutdown.
    public func run() async throws {
        let dataDirectory: DataDirectory
        do {
            dataDirectory = try DataDirectory(path: configuration.dataDirectory)
        } catch {
            throw StartError(description: error.description)
        }
        guard configuration.insecureHTTP else {
            // HTTPS with the cluster CA and bearer tokens comes with the Kubernetes API; until then the only
            // API this peer can serve is plain HTTP, and it must not pretend otherwise.
            throw StartError(description: "the HTTPS API is not available in this build; start with --insecure-http (loopback addresses only)")
        }
        logger.warning("serving the API over plain HTTP with no authentication", metadata: ["address": "\(configuration.bindAddress):\(configuration.apiPort)"])

        let gossip: GossipService
        let consensus: ConsensusService
        do {
            let nodeID = try ConsensusService.loadOrCreateNodeID(dataDirectory: dataDirectory.path)
            gossip = try GossipService(configuration: configuration, dataDirectory: dataDirectory, raftID: nodeID, logger: logger)
            consensus = ConsensusService(configuration: configuration, nodeID: nodeID, gossip: gossip, logger: logger)
        } catch let error as CustomStringConvertible & Error {
            throw StartError(description: error.description)
        }
        let kubernetes = KubernetesAPI(backend: consensus.node, logger: logger)
        let api = APIServer(configuration: configuration, gossip: gossip, consensus: consensus, kubernetes: kubernetes, logger: logger)
        let leaderDuties = LeaderDuties(consensus: consensus.node, kubernetes: kubernetes, logger: logger)
        let serviceGroup = ServiceGroup(configuration: .init(
            services: [
                // Shutdown runs in reverse: the API stops taking requests, Raft syncs and stops, and gossip
                // says goodbye last so the others record `left` rather than a failure.
                .init(service: gossip),
                .init(service: consensus, successTerminationBehavior: .gracefullyShutdownGroup,
                      failureTerminationBehavior: .gracefullyShutdownGroup),
                .init(service: leaderDuties),
                .init(service: api.application(), successTerminationBehavior: .gracefullyShutdownGroup),
            ],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        logger.info("peer starting", metadata: [
            "name": "\(configuration.name)",
            "version": "\(PeerVersion.current)",
            "dataDir": "\(dataDirectory.path)",
        ])
        do {
            try await serviceGroup.run()
        } catch let error as ServiceGroupError {
            throw StartError(description: "peer stopped: \(error)")
        }
        logger.info("peer stopped cleanly", metadata: ["name": "\(configuration.name)"])
        withExtendedLifetime(dataDirectory) {}
    }
}
