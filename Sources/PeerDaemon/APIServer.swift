import Consensus
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NodeAgent
import enum ResourceModel.JSONValue
import enum ResourceModel.Timestamp
import ServiceLifecycle
import Sodium
import Synchronization

/// The peer's HTTP endpoint. Every peer serves the whole cluster's API.
struct APIServer: Sendable {
    let configuration: PeerConfiguration
    let gossip: GossipService
    let consensus: ConsensusService
    let kubernetes: KubernetesAPI
    /// nil with `--insecure-http`: plain HTTP, no authentication.
    let security: ClusterSecurity?
    let metrics: PeerMetrics
    /// This peer's image store, served read-only under `/v2/` so other peers pull from it; nil without pods.
    var images: ImageStore? = nil
    let logger: Logger

    /// Paths anyone may ask without a token: load balancers and probes know no tokens (as in Kubernetes).
    static let publicPaths: Set<String> = ["/healthz", "/livez", "/readyz"]

    func router() -> Router<BasicRequestContext> {
        let router = Router()
        // Kubernetes' health endpoints answer a bare "ok"; load balancers and kubectl probe them as text.
        for path in ["healthz", "livez"] {
            router.get(RouterPath(path)) { _, _ in "ok" }
        }
        // Ready when this peer can serve a linearizable read: it reaches a leader and has caught up.
        router.get("readyz") { _, _ -> Response in
            do {
                _ = try await consensus.node.read(.linearizable) { $0.revision }
                return Response(status: .ok, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: "ok")))
            } catch {
                return Response(status: .serviceUnavailable, headers: [.contentType: "text/plain; charset=utf-8"],
                                body: .init(byteBuffer: ByteBuffer(string: "[-]store failed: \(error)\nreadyz check failed\n")))
            }
        }
        router.get("metrics") { _, _ -> Response in
            let text = metrics.scrape(raft: consensus.node.status(), gossip: gossip.node)
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: text)))
        }
        router.get("v1/members") { _, _ in
            JSONResponse(value: gossip.node.members.map(MemberView.init))
        }
        router.get("v1/gossip") { _, _ in
            JSONResponse(value: GossipStatus(gossip.node))
        }
        router.get("v1/gossip/keyring") { _, _ in
            JSONResponse(value: KeyringView(gossip.node.keyring))
        }
        router.post("v1/gossip/keyring") { request, _ in
            let change: KeyringChange
            do {
                var request = request
                let body = try await request.collectBody(upTo: 64 * 1024)
                change = try JSONValue.decode(KeyringChange.self, from: Array(buffer: body))
            } catch {
                throw HTTPError(.badRequest, message: "the body must be {\"operation\": \"install|use|remove\", \"key\": base64}: \(error)")
            }
            let key: SecretBoxKey
            do { key = try SecretBoxKey(base64: change.key) } catch {
                throw HTTPError(.badRequest, message: "key: \(error)")
            }
            do {
                try await gossip.changeKeyring(change.operation, key: key, dataDirectory: configuration.dataDirectory)
            } catch let error as GossipKeyring.KeyringError {
                throw HTTPError(.conflict, message: error.description)
            }
            return JSONResponse(value: KeyringView(gossip.node.keyring))
        }
        KVAPI(consensus: consensus.node).register(on: router)
        if let images { registerDistributionRoutes(on: router, store: images) }
        // The Kubernetes API (with /version, whose major and minor kubectl's dispatcher reads).
        kubernetes.register(on: router)
        return router
    }

    /// Serves the API until shutdown. What Hummingbird's `Application.run()` does, less its date cache: that
    /// service formats the `Date` header through FoundationEssentials' Calendar every second, in every peer, which
    /// kept ~0.3 MiB of calendar and locale code resident and woke the peer once a second (issue #3).
    func serve(tls: TLSConfiguration?) async throws {
        let address = "\(configuration.bindAddress):\(configuration.apiPort)"
        let logger = self.logger
        let scheme = tls == nil ? "http" : "https"
        let responder = AccessResponder(inner: router().buildResponder(), security: security, metrics: metrics, logger: logger)
        let builder: HTTPServerBuilder = try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
        let dateHeader = HTTPDateHeader()
        let server = try builder.buildServer(
            configuration: ServerConfiguration(address: .hostname(configuration.bindAddress, port: configuration.apiPort), serverName: "peer"),
            eventLoopGroup: MultiThreadedEventLoopGroup.singleton,
            logger: logger,
            responder: { request, responseWriter, channel in
                let context = BasicRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: logger))
                var response: Response
                do {
                    response = try await responder.respond(to: request, context: context)
                } catch let error as HTTPParserError {
                    throw error
                } catch {
                    // The router turns errors it knows into responses; anything left is the server's fault.
                    logger.debug("unhandled error", metadata: ["error": "\(error)"])
                    response = Response(status: .internalServerError)
                }
                response.headers[.date] = dateHeader.current()
                response.headers[.server] = "peer"
                do {
                    try await responseWriter.write(response: response.head, body: response.body)
                } catch is HTTPParserError {
                    // A parse error here must close the connection, not answer a second time.
                    throw ResponseWriteFailed()
                }
            },
            onServerRunning: { _ in logger.info("API listening", metadata: ["address": "\(scheme)://\(address)"]) }
        )
        try await server.run()
    }
}

struct ResponseWriteFailed: Error {}

/// The `Date` response header, formatted at most once a second and only while requests arrive.
final class HTTPDateHeader: Sendable {
    private let cached = Mutex<(second: Int64, text: String)>((Int64.min, ""))

    func current() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let second = Int64(now.tv_sec)
        return cached.withLock { cache in
            if cache.second != second { cache = (second, Timestamp.httpDate(epochSeconds: second)) }
            return cache.text
        }
    }
}

/// Runs the API once this peer can serve it: over HTTPS, that is once it holds the cluster CA (at once on
/// the first peer and after a restart; a joiner waits for the store to deliver it).
struct APIService: Service {
    let server: APIServer

    func run() async throws {
        guard let security = server.security else {
            recordURL(secure: false)
            try await server.serve(tls: nil)
            return
        }
        let material: ClusterSecurity.Material
        do {
            material = try await cancelWhenGracefulShutdown {
                try await security.waitForMaterial(consensus: server.consensus.node, keyring: { [gossip = server.gossip.node] in gossip.keyring.keys })
            }
        } catch is CancellationError {
            return
        }
        let tls = try security.servingTLS(material)
        recordURL(secure: true)
        try await server.serve(tls: tls)
    }

    /// Where the local CLI finds this peer's API (`peer members`, `peer kubeconfig` default to it).
    func recordURL(secure: Bool) {
        let path = ClusterSecurity.apiURLPath(server.configuration.dataDirectory)
        do { try SmallFile.writeAtomically(path, ClusterSecurity.apiURL(server.configuration, secure: secure) + "\n") } catch {
            server.logger.warning("cannot record the API address", metadata: ["path": "\(path)", "error": "\(error)"])
        }
    }
}

/// Every request passes here first: bearer-token authentication (HTTPS only), then the route, then a log
/// line and the request metrics. Wrapping the whole router (not a router middleware) covers unknown paths too.
struct AccessResponder<Inner: HTTPResponder>: HTTPResponder where Inner.Context == BasicRequestContext {
    let inner: Inner
    let security: ClusterSecurity?
    let metrics: PeerMetrics
    let logger: Logger

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        let started = ContinuousClock.now
        let path = request.uri.path
        let query = request.uri.query ?? ""
        let watch = KubeRequest.parseQuery(query)["watch"].map { ["true", "1", "True"].contains($0) } ?? false
        var code = 500
        defer {
            let duration = ContinuousClock.now - started
            let labels = RequestLabels.of(method: request.method.rawValue, path: path, watch: watch)
            metrics.recordRequest(verb: labels.verb, resource: labels.resource, code: code, duration: duration)
            logger.debug("request", metadata: [
                "method": "\(request.method.rawValue)", "path": "\(path)", "code": "\(code)",
                "durationMs": "\(Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15)",
            ])
        }
        if let security, !APIServer.publicPaths.contains(path), !authenticated(request, security) {
            code = 401
            return Self.unauthorized()
        }
        do {
            let response = try await inner.respond(to: request, context: context)
            code = response.status.code
            return response
        } catch let error as HTTPError {
            code = error.status.code
            throw error
        }
    }

    func authenticated(_ request: Request, _ security: ClusterSecurity) -> Bool {
        guard let header = request.headers[.authorization] else { return false }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return false }
        return security.isAdminToken(String(parts[1]).trimmingWhitespace())
    }

    static func unauthorized() -> Response {
        let body = #"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}"#
        return Response(status: .unauthorized, headers: [.contentType: "application/json", .wwwAuthenticate: "Bearer"],
                        body: .init(byteBuffer: ByteBuffer(string: body)))
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
struct GossipStatus: Encodable, Sendable {
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
struct KeyringView: Encodable, Sendable {
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
