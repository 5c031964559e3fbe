import Gossip
import Hummingbird
import Logging
import Sodium

/// The peer's HTTP endpoint. Every peer serves the whole cluster's API.
struct APIServer: Sendable {
    let configuration: PeerConfiguration
    let gossip: GossipService
    let consensus: ConsensusService
    let kubernetes: KubernetesAPI
    let logger: Logger

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        // Kubernetes' health endpoints answer a bare "ok"; load balancers and kubectl probe them as text.
        for path in ["healthz", "livez", "readyz"] {
            router.get(RouterPath(path)) { _, _ in "ok" }
        }
        router.get("v1/members") { _, _ in
            JSONResponse(value: gossip.node.members.map(MemberView.init))
        }
        router.get("v1/gossip") { _, _ in
            GossipStatus(gossip.node)
        }
        router.get("v1/gossip/keyring") { _, _ in
            KeyringView(gossip.node.keyring)
        }
        router.post("v1/gossip/keyring") { request, context in
            let change = try await request.decode(as: KeyringChange.self, context: context)
            let key: SecretBoxKey
            do { key = try SecretBoxKey(base64: change.key) } catch {
                throw HTTPError(.badRequest, message: "key: \(error)")
            }
            do {
                try await gossip.changeKeyring(change.operation, key: key, dataDirectory: configuration.dataDirectory)
            } catch let error as GossipKeyring.KeyringError {
                throw HTTPError(.conflict, message: error.description)
            }
            return KeyringView(gossip.node.keyring)
        }
        KVAPI(consensus: consensus.node).register(on: router)
        // The Kubernetes API (with /version, whose major and minor kubectl's dispatcher reads).
        kubernetes.register(on: router)
        return router
    }

    func application() -> some ApplicationProtocol {
        let address = "\(configuration.bindAddress):\(configuration.apiPort)"
        let logger = self.logger
        return Application(
            router: router(),
            configuration: .init(address: .hostname(configuration.bindAddress, port: configuration.apiPort), serverName: "peer"),
            onServerRunning: { _ in logger.info("API listening", metadata: ["address": "\(address)"]) },
            logger: logger
        )
    }
}

extension APIServer {
    static var platform: String {
        #if os(Linux)
        let os = "linux"
        #else
        let os = "darwin"
        #endif
        #if arch(x86_64)
        return os + "/amd64"
        #elseif arch(arm64)
        return os + "/arm64"
        #else
        return os + "/unknown"
        #endif
    }
}

/// One member as `GET /v1/members` shows it.
public struct MemberView: Codable, Sendable, Equatable {
    public var name: String
    public var address: String
    public var state: String
    public var incarnation: UInt64
    public var meta: [String: String]

    init(_ member: MemberState) {
        name = member.metadata.entries["name"] ?? ""
        address = member.address
        state = member.status.description
        incarnation = member.incarnation
        meta = member.metadata.entries
    }
}

/// This peer's own gossip health: what it dropped, how it feels (Lifeguard's local health).
struct GossipStatus: ResponseEncodable {
    var address: String
    var localHealthMultiplier: Int
    var packetsReceived: Int
    var packetsSent: Int
    var droppedUnauthenticated: Int
    var droppedMalformed: Int
    var streamsReceived: Int
    var streamFailures: Int

    init(_ node: GossipNode) {
        let counters = node.counters
        address = node.address
        localHealthMultiplier = node.localHealthMultiplier
        packetsReceived = counters.packetsReceived
        packetsSent = counters.packetsSent
        droppedUnauthenticated = counters.droppedUnauthenticated
        droppedMalformed = counters.droppedMalformed
        streamsReceived = counters.streamsReceived
        streamFailures = counters.streamFailures
    }
}

struct KeyringChange: Decodable {
    var operation: GossipService.KeyringOperation
    var key: String
}

/// Fingerprints only: the keys themselves never leave the peer through the API.
struct KeyringView: ResponseEncodable {
    var primary: String
    var keys: [String]

    init(_ keyring: GossipKeyring) {
        primary = Self.fingerprint(keyring.primary)
        keys = keyring.keys.map(Self.fingerprint)
    }

    static func fingerprint(_ key: SecretBoxKey) -> String {
        let digest = (try? Blake2b.hash(Array(key.base64EncodedString().utf8), outputLength: 16)) ?? []
        return digest.prefix(8).map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
