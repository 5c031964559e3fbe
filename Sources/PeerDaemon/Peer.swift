import Gossip
import Hummingbird
import Logging
import NodeAgent
import ResourceModel
import ServiceLifecycle
#if canImport(Glibc)
import Glibc
#endif

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
        if configuration.insecureHTTP {
            logger.warning("serving the API over plain HTTP with no authentication", metadata: ["address": "\(configuration.bindAddress):\(configuration.apiPort)"])
        }
        // The cluster key, CA and admin token: created here by the first peer, delivered through the store to joiners.
        let security: ClusterSecurity
        do {
            security = try ClusterSecurity(configuration: configuration, dataDirectory: dataDirectory.path, logger: logger)
        } catch {
            throw StartError(description: error.description)
        }

        let gossip: GossipService
        let consensus: ConsensusService
        do {
            let nodeID = try ConsensusService.loadOrCreateNodeID(dataDirectory: dataDirectory.path)
            gossip = try GossipService(configuration: configuration, dataDirectory: dataDirectory, raftID: nodeID, logger: logger)
            consensus = ConsensusService(configuration: configuration, nodeID: nodeID, gossip: gossip, logger: logger)
        } catch let error as CustomStringConvertible & Error {
            throw StartError(description: error.description)
        }
        let metrics = PeerMetrics()
        var apiOptions = KubernetesAPI.Options()
        apiOptions.secrets = security.secretSealing
        apiOptions.onProposal = { metrics.recordProposal(result: $0) }
        let pods = try makeNodeAgent(dataDirectory: dataDirectory.path, gossip: gossip.node, security: security)
        let podLogs = PodLogs(nodeName: configuration.name, agent: pods?.agent, gossip: gossip.node,
                              scheme: configuration.insecureHTTP ? "http" : "https", client: { security.peerClient() })
        apiOptions.podLogs = { pod, query in await podLogs.respond(pod: pod, query: query) }
        if let images = pods?.images {
            apiOptions.admitPod = { pod in await Self.admissionRefusal(pod, images: images) }
        }
        let kubernetes = KubernetesAPI(backend: consensus.node, logger: logger, options: apiOptions)
        var api = APIServer(configuration: configuration, gossip: gossip, consensus: consensus, kubernetes: kubernetes,
                            security: configuration.insecureHTTP ? nil : security, metrics: metrics, logger: logger)
        api.images = pods?.images
        let nodeAgent = pods.map {
            NodeAgentService(agent: $0.agent, consensus: consensus.node, kubernetes: kubernetes,
                             nodeName: configuration.name, logger: logger)
        }
        let leaderDuties = LeaderDuties(consensus: consensus.node, kubernetes: kubernetes, members: { gossip.node.members },
                                        membershipEvents: { gossip.node.events() },
                                        placement: PlacementSettings(configuration), name: configuration.name, logger: logger)
        // Shutdown runs in reverse: the API stops taking requests, the node agent lets go of its containers (they
        // keep running), Raft syncs and stops, and gossip says goodbye last so the others record `left` rather
        // than a failure.
        var core: [ServiceGroupConfiguration.ServiceConfiguration] = [
            .init(service: gossip),
            .init(service: consensus, successTerminationBehavior: .gracefullyShutdownGroup,
                  failureTerminationBehavior: .gracefullyShutdownGroup),
            .init(service: leaderDuties),
        ]
        if let nodeAgent { core.append(.init(service: nodeAgent)) }
        let serviceGroup = ServiceGroup(configuration: .init(
            services: core + [
                .init(service: SecurityKeeper(security: security, consensus: consensus.node, gossip: gossip.node)),
                .init(service: APIService(server: api), successTerminationBehavior: .gracefullyShutdownGroup),
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

    /// The node agent and its image store, or nil when this peer runs no pods (by configuration, or because the
    /// machine cannot: not root, no runc).
    func makeNodeAgent(dataDirectory: String, gossip: GossipNode, security: ClusterSecurity) throws(StartError) -> (agent: NodeAgent, images: ImageStore)? {
        if let reason = Self.podsUnavailableReason(configuration) {
            if configuration.runPods { logger.warning("this peer runs no pods: \(reason) (set runPods: false to silence this)") } else {
                logger.info("this peer runs no pods (runPods is false)")
            }
            return nil
        }
        // runc resolves bundle paths from its own working directory: hand the agent absolute paths only.
        guard let resolved = realpath(dataDirectory, nil) else {
            throw StartError(description: "data directory \(dataDirectory): cannot resolve its absolute path")
        }
        let dataDirectory = String(cString: resolved)
        free(resolved)
        var agentConfiguration = NodeAgent.Configuration(directory: dataDirectory + "/agent", nodeName: configuration.name)
        var rules: [TrustPolicy.Entry] = []
        for (i, rule) in configuration.imageTrust.enumerated() {
            do {
                rules.append(try TrustPolicy.Entry(prefix: rule.prefix, namespaces: rule.namespaces, base64Keys: rule.keys, mode: rule.mode))
            } catch {
                throw StartError(description: "imageTrust[\(i)].\(error.field): \(error.message)")
            }
        }
        let registries = configuration.imageRegistries.map { PullSource(kind: .registry, baseURL: $0) }
        // Other peers serve what they hold under /v2/: an edge site with no registry fetches an image once.
        let scheme = configuration.insecureHTTP ? "http" : "https"
        let selfName = configuration.name
        let peerURLs: @Sendable () -> [String] = {
            gossip.members.filter { $0.status == .alive && $0.metadata.entries["name"] != selfName }
                .compactMap { $0.metadata.entries["api"].map { "\(scheme)://\($0)" } }.sorted()
        }
        let images: ImageStore
        do {
            images = try ImageStore(directory: dataDirectory + "/images", policy: TrustPolicy(entries: rules),
                                    sources: { registries + peerURLs().map { PullSource(kind: .peer, baseURL: $0) } },
                                    transport: PeerImageTransport(security: security, peerURLs: peerURLs), logger: logger)
        } catch {
            throw StartError(description: error.description)
        }
        agentConfiguration.hostIP = configuration.bindAddress
        agentConfiguration.network = PodNetwork.Settings(bridge: configuration.podBridge, subnet: configuration.podSubnet)
        agentConfiguration.sandboxPoolSize = configuration.podSandboxPool
        return (NodeAgent(configuration: agentConfiguration, images: images, logger: logger), images)
    }

    /// Why the API refuses a pod at once: an image this peer's store already knows is untrusted or tampered.
    static func admissionRefusal(_ pod: JSONValue, images: ImageStore) async -> String? {
        let namespace = pod["metadata"]?["namespace"]?.stringValue ?? "default"
        let containers = (pod["spec"]?["initContainers"]?.arrayValue ?? []) + (pod["spec"]?["containers"]?.arrayValue ?? [])
        for container in containers {
            guard let image = container["image"]?.stringValue else { continue }
            if let refusal = await images.admissionCheck(reference: image, namespace: namespace) {
                return "image \(goQuoted(image)): \(refusal.reason.rawValue): \(refusal.message)"
            }
        }
        return nil
    }

    /// Why this peer's node agent cannot run pods, or nil when it can. Gossip publishes the answer so the
    /// scheduler never binds a pod to a node nothing will run it on.
    static func podsUnavailableReason(_ configuration: PeerConfiguration) -> String? {
        guard configuration.runPods else { return "runPods is false" }
        guard geteuid() == 0 else { return "the node agent needs root" }
        guard access(NodeAgent.Configuration(directory: "", nodeName: "").runc, X_OK) == 0 else { return "runc is not installed" }
        return nil
    }
}
