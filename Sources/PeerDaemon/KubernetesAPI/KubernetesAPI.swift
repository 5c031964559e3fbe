import Consensus
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import ResourceModel
import Synchronization

/// The Kubernetes REST API of a peer, backed by the Raft-replicated cluster store. Any peer answers:
/// writes are proposed through `ConsensusNode` (forwarded to the leader), reads are linearizable unless
/// the client asks for `resourceVersion=0`.
///
/// Wire it with `register(on:)` (Hummingbird) or call `handle(_:)` directly.
public struct KubernetesAPI: Sendable {
    public struct Options: Sendable {
        /// Bodies above this get 413 (kube-apiserver's limit is 3 MiB).
        public var maxBodyBytes = 3 * 1024 * 1024
        /// `/version`. The kubectl dispatcher picks its bundled `kubectl.1.<minor>` from `minor`.
        public var versionMajor = "1"
        public var versionMinor = "32"
        public var gitVersion = "v1.32.0"
        /// How long a watch without `timeoutSeconds` stays open (kube-apiserver: 30–60 min).
        public var maxWatchSeconds: Int64 = 1800
        /// Events one store pull may return before the stream flushes them.
        public var watchBatch = 500
        /// Seeds uids and generated names; nil draws from the system generator.
        public var randomSeed: UInt64?
        public var secrets: SecretSealing = .plaintext
        /// Told the outcome of every write this API proposes (applied, conflict, notFound, invalid, error): metrics.
        public var onProposal: (@Sendable (String) -> Void)?
        /// Serves `pods/log` for a stored pod (the node agent's files, or the peer that runs it); nil answers 503.
        public var podLogs: (@Sendable (_ pod: JSONValue, _ query: [String: String]) async -> KubeResponse)?
        /// Asked before a pod is created: why it must not be (e.g. an image this peer knows is not signed by a
        /// trusted key), or nil. The node agent checks again before running anything.
        public var admitPod: (@Sendable (_ pod: JSONValue) async -> String?)?
        public init() {}
    }

    /// Namespaces every cluster has.
    public static let bootstrapNamespaces = ["default", "kube-system", "kube-public", "kube-node-lease"]
    /// Namespaces that can never be deleted.
    static let undeletableNamespaces: Set<String> = ["default", "kube-system", "kube-public"]

    let backend: ConsensusNode
    let clock: @Sendable () -> Int64
    let logger: Logger
    let options: Options
    let codec: ObjectCodec
    let random: RandomSource

    /// - Parameter clock: the current time in seconds since the epoch (creation and deletion timestamps, ages).
    public init(backend: ConsensusNode, clock: @escaping @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970) },
                logger: Logger, options: Options = Options()) {
        self.backend = backend
        self.clock = clock
        self.logger = logger
        self.options = options
        self.codec = ObjectCodec(secrets: options.secrets)
        var system = SystemRandomNumberGenerator()
        self.random = RandomSource(seed: options.randomSeed ?? system.next())
    }

    // MARK: Entry point

    /// Answers one request. Never throws: every failure becomes a `Status`.
    public func handle(_ request: KubeRequest) async -> KubeResponse {
        do {
            if request.body.count > options.maxBodyBytes { throw APIError.tooLarge(limit: options.maxBodyBytes) }
            return try await route(request)
        } catch let error as APIError {
            return .status(error.status)
        } catch let error as ConsensusError {
            return .status(Self.apiError(error).status)
        } catch {
            logger.error("kubernetes API request failed", metadata: ["path": "\(request.path)", "error": "\(error)"])
            return .status(APIError.internalError("\(error)").status)
        }
    }

    func route(_ request: KubeRequest) async throws -> KubeResponse {
        let segments = request.path.split(separator: "/").map(String.init)
        guard let first = segments.first else { throw APIError(.pathNotFound()) }
        switch first {
        case "version" where segments.count == 1:
            try requireGet(request)
            return .json(Discovery.version(major: options.versionMajor, minor: options.versionMinor, gitVersion: options.gitVersion,
                                           platform: APIServer.platform))
        case "openapi":
            try requireGet(request)
            if segments == ["openapi", "v2"] {
                return KubeResponse(status: 200, headers: ["Content-Type": "application/octet-stream"], body: .bytes(OpenAPIDocument.v2))
            }
            throw APIError(.pathNotFound())
        case "api":
            if segments.count == 1 { try requireGet(request); return .json(Discovery.coreVersions()) }
            guard segments[1] == "v1" else { throw APIError(.pathNotFound()) }
            if segments.count == 2 { try requireGet(request); return try discovery("v1") }
            return try await resource(request, group: "", version: "v1", rest: Array(segments.dropFirst(2)))
        case "apis":
            if segments.count == 1 { try requireGet(request); return .json(Discovery.groupList()) }
            guard segments.count >= 3 else { throw APIError(.pathNotFound()) }
            if segments.count == 3 { try requireGet(request); return try discovery("\(segments[1])/\(segments[2])") }
            return try await resource(request, group: segments[1], version: segments[2], rest: Array(segments.dropFirst(3)))
        default:
            throw APIError(.pathNotFound())
        }
    }

    func requireGet(_ request: KubeRequest) throws {
        guard request.method == "GET" || request.method == "HEAD" else { throw APIError.methodNotAllowed(request.method) }
    }

    func discovery(_ groupVersion: String) throws -> KubeResponse {
        guard let doc = Discovery.resourceList(groupVersion: groupVersion) else { throw APIError(.pathNotFound()) }
        return .json(doc)
    }

    /// What a resource path names.
    struct Target {
        var info: ResourceInfo
        var namespace: String?
        var name: String?
        var subresource: String?
    }

    static func parseTarget(group: String, version: String, rest: [String]) throws -> Target {
        var rest = rest
        var namespace: String?
        // `namespaces/<ns>/<resource>...` unless the third segment is a namespace subresource (`namespaces/x/status`).
        if rest.count >= 3, rest[0] == "namespaces",
           let inner = ResourceRegistry.lookup(group: group, version: version, resource: rest[2]), inner.namespaced {
            namespace = rest[1]
            rest.removeFirst(2)
        }
        guard let resource = rest.first, let info = ResourceRegistry.lookup(group: group, version: version, resource: resource),
              rest.count <= 3 else { throw APIError(.pathNotFound()) }
        if info.namespaced && namespace == nil && rest.count > 1 { throw APIError(.pathNotFound()) }
        return Target(info: info, namespace: namespace, name: rest.count > 1 ? rest[1] : nil, subresource: rest.count > 2 ? rest[2] : nil)
    }

    func resource(_ request: KubeRequest, group: String, version: String, rest: [String]) async throws -> KubeResponse {
        let t = try Self.parseTarget(group: group, version: version, rest: rest)
        let m = request.method
        guard let name = t.name else {
            switch m {
            case "GET" where request.flag("watch"): return try await watch(t, request)
            case "GET": return try await list(t, request)
            case "POST" where t.info.namespaced && t.namespace == nil: throw APIError.methodNotAllowed(m)
            case "POST": return try await create(t, request)
            default: throw APIError.methodNotAllowed(m)
            }
        }
        switch t.subresource {
        case nil:
            switch m {
            case "GET": return try await get(t, name: name, request)
            case "PUT": return try await replace(t, name: name, request, subresource: .main)
            case "PATCH": return try await patch(t, name: name, request, subresource: .main)
            case "DELETE": return try await delete(t, name: name, request)
            default: throw APIError.methodNotAllowed(m)
            }
        case "status"? where t.info.subresources.contains("status"):
            switch m {
            case "GET": return try await get(t, name: name, request)
            case "PUT": return try await replace(t, name: name, request, subresource: .status)
            case "PATCH": return try await patch(t, name: name, request, subresource: .status)
            default: throw APIError.methodNotAllowed(m)
            }
        case "scale"? where t.info.subresources.contains("scale"):
            switch m {
            case "GET": return try await getScale(t, name: name, request)
            case "PUT", "PATCH": return try await updateScale(t, name: name, request)
            default: throw APIError.methodNotAllowed(m)
            }
        case "log"? where t.info.subresources.contains("log"):
            guard m == "GET" else { throw APIError.methodNotAllowed(m) }
            guard let stored = try await read(t.info, namespace: t.namespace, name: name, consistency(request)) else {
                throw APIError(.notFound(t.info, name: name))
            }
            guard let podLogs = options.podLogs else {
                throw APIError.unavailable("container logs are not served by this peer")
            }
            return await podLogs(stored.object, request.query)
        default:
            throw APIError(.pathNotFound())
        }
    }

    // MARK: Store access

    static func apiError(_ error: ConsensusError) -> APIError {
        switch error {
        case .storage(let why): return .internalError("the cluster store failed: \(why)")
        default: return .unavailable("the cluster store is unavailable: \(error.description)")
        }
    }

    func storeRead<T>(_ consistency: ReadConsistency, _ body: (borrowing ClusterStore) -> T) async throws(APIError) -> T {
        do { return try await backend.read(consistency, body) } catch { throw Self.apiError(error) }
    }

    func propose(_ command: StoreCommand) async throws(APIError) -> StoreApplyResult {
        do {
            let result = try await backend.propose(command)
            if let onProposal = options.onProposal {
                switch result {
                case .applied: onProposal("applied")
                case .conflict: onProposal("conflict")
                case .notFound: onProposal("notFound")
                case .invalid: onProposal("invalid")
                }
            }
            return result
        } catch {
            options.onProposal?("error")
            throw Self.apiError(error)
        }
    }

    func consistency(_ request: KubeRequest) -> ReadConsistency {
        request.query["resourceVersion"] == "0" ? .stale : .linearizable
    }

    /// An object and the modRevision it was read at.
    struct Stored {
        var object: JSONValue
        var modRevision: UInt64
    }

    func read(_ info: ResourceInfo, namespace: String?, name: String, _ consistency: ReadConsistency) async throws -> Stored? {
        let key = ObjectKeys.key(info, namespace: namespace, name: name)
        guard let kv = try await storeRead(consistency, { $0.get(key) }) else { return nil }
        guard let object = codec.decode(kv.value, as: info, modRevision: kv.modRevision) else {
            throw APIError.internalError("the stored object \(key) cannot be decoded")
        }
        return Stored(object: object, modRevision: kv.modRevision)
    }

    func now() -> Int64 { clock() }
}

/// uids and generated-name suffixes. The API layer is a shell, but a seed keeps tests reproducible.
final class RandomSource: Sendable {
    private let state: Mutex<UInt64>
    init(seed: UInt64) { state = Mutex(seed) }

    func next() -> UInt64 {
        state.withLock { Self.splitMix(&$0) }
    }

    /// One SplitMix64 step: the peer's one seeded sequence, shared by every generator in the shell.
    static func splitMix(_ s: inout UInt64) -> UInt64 {
        s &+= 0x9E37_79B9_7F4A_7C15
        var z = s
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A version-4 UUID string.
    func uuid() -> String {
        var bytes: [UInt8] = []
        for _ in 0..<2 { withUnsafeBytes(of: next()) { bytes.append(contentsOf: $0) } }
        bytes[6] = (bytes[6] & 0x0f) | 0x40
        bytes[8] = (bytes[8] & 0x3f) | 0x80
        let hex = bytes.map { String($0, radix: 16).leftPadded(to: 2) }
        return [hex[0..<4], hex[4..<6], hex[6..<8], hex[8..<10], hex[10..<16]].map { $0.joined() }.joined(separator: "-")
    }
}

/// Lets the pure `generatedName` draw from the shared source.
struct RandomSourceGenerator: RandomNumberGenerator {
    let source: RandomSource
    mutating func next() -> UInt64 { source.next() }
}
