import Consensus
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
@testable import PeerDaemon
import ResourceModel
import Sodium
import Synchronization
import Testing
import X509

@Suite("Security: the cluster CA, keys, tokens and sealed Secrets")
struct SecurityTests {
    static let now = Date(timeIntervalSince1970: 1_700_000_000)

    @Test("the cluster key opens only with a gossip key it was wrapped for")
    func wrapping() throws {
        let clusterKey = try SecretBoxKey.generate()
        let gossip = try SecretBoxKey.generate()
        let other = try SecretBoxKey.generate()
        let wrapped = try ClusterKeys.wrap(clusterKey, for: gossip)
        #expect(try ClusterKeys.unwrap(wrapped, with: gossip) == clusterKey)
        #expect(throws: SodiumError.self) { try ClusterKeys.unwrap(wrapped, with: other) }
        #expect(try ClusterKeys.identifier(of: gossip) != ClusterKeys.identifier(of: other))
        #expect(try ClusterKeys.identifier(of: gossip) == ClusterKeys.identifier(of: gossip))
        // The identifier is public; it must not be the wrapping key or reveal the gossip key.
        let id = try ClusterKeys.identifier(of: gossip)
        #expect(!gossip.base64EncodedString().contains(id) && id.count == 32)
    }

    @Test("the authority record keeps the CA key and token sealed and opens with the cluster key only")
    func authorityRecord() throws {
        let key = try SecretBoxKey.generate()
        let authority = try ClusterAuthority.create(clusterName: "c1", now: Self.now)
        let token = try ClusterKeys.newToken()
        let record = try AuthorityRecord.make(authority: authority, adminToken: token, clusterKey: key)
        let bytes = String(decoding: try record.encoded(), as: UTF8.self)
        #expect(!bytes.contains(token))
        #expect(!bytes.contains("PRIVATE KEY"))
        #expect(bytes.contains("BEGIN CERTIFICATE"))
        let opened = try AuthorityRecord.decode(try record.encoded()).open(with: key)
        #expect(opened.adminToken == token)
        #expect(opened.authority.privateKeyPEM == authority.privateKeyPEM)
        #expect(throws: (any Error).self) { try record.open(with: try SecretBoxKey.generate()) }
        #expect(token.count == 43 && !token.contains("/") && !token.contains("+") && !token.contains("="))
    }

    @Test("a serving certificate carries the peer's names and addresses and is signed by the cluster CA")
    func servingCertificate() throws {
        let authority = try ClusterAuthority.create(clusterName: "c1", now: Self.now)
        let serving = try authority.issueServing(name: "peer-a", dnsNames: ["api.example"], ipAddresses: ["10.1.2.3", "fd00::1"], now: Self.now)
        let certificate = try Certificate(pemEncoded: serving.certificatePEM)
        let names = try #require(try certificate.extensions.subjectAlternativeNames)
        #expect(names.contains(.dnsName("peer-a")) && names.contains(.dnsName("localhost")) && names.contains(.dnsName("api.example")))
        #expect(names.contains(.ipAddress(.init(contentBytes: [127, 0, 0, 1]))) && names.contains(.ipAddress(.init(contentBytes: [10, 1, 2, 3]))))
        let ca = try Certificate(pemEncoded: try authority.certificatePEM)
        #expect(certificate.issuer == ca.subject)
        #expect(try ca.extensions.basicConstraints == .isCertificateAuthority(maxPathLength: 0))
        #expect(try certificate.extensions.basicConstraints == .notCertificateAuthority)
        #expect(ClusterAuthority.addressBytes("10.1.2.3") == [10, 1, 2, 3])
        #expect(ClusterAuthority.addressBytes("fd00::1")?.count == 16)
        #expect(ClusterAuthority.addressBytes("not-an-ip") == nil)
        #expect(ClusterSecurity.interfaceAddresses().contains("127.0.0.1"))
        #expect(ClusterSecurity.apiURL(PeerConfiguration(bindAddress: "10.0.0.5", apiPort: 6443), secure: true) == "https://10.0.0.5:6443")
        #expect(ClusterSecurity.apiURL(PeerConfiguration(bindAddress: "fd00::5", apiPort: 7000), secure: true) == "https://[fd00::5]:7000")
        #expect(ClusterSecurity.apiURL(PeerConfiguration(bindAddress: "0.0.0.0"), secure: false) == "http://127.0.0.1:6443")
    }

    @Test("a fresh data directory bootstraps the cluster's material, 0600, and a restart reads the same")
    func bootstrapFiles() throws {
        let dir = "/tmp/security-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let logger = Logger(label: "test")
        let first = try ClusterSecurity(configuration: PeerConfiguration(name: "p1", dataDirectory: dir), dataDirectory: dir, logger: logger, now: Self.now)
        let material = try #require(first.current)
        for path in [ClusterSecurity.clusterKeyPath(dir), ClusterSecurity.authorityPath(dir), ClusterSecurity.caPath(dir), ClusterSecurity.tokenPath(dir)] {
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int)
            #expect(mode == 0o600, "\(path) has mode \(String(mode, radix: 8))")
        }
        let again = try ClusterSecurity(configuration: PeerConfiguration(name: "p1", dataDirectory: dir, join: ["127.0.0.9"]),
                                        dataDirectory: dir, logger: logger)
        #expect(again.current?.adminToken == material.adminToken)
        #expect(again.isAdminToken(material.adminToken))
        #expect(!again.isAdminToken(material.adminToken + "x"))
        #expect(!again.isAdminToken(""))
        // A joiner with an empty data directory has nothing until the store delivers it.
        let joinerDir = dir + "/joiner"
        try FileManager.default.createDirectory(atPath: joinerDir, withIntermediateDirectories: true)
        let joiner = try ClusterSecurity(configuration: PeerConfiguration(name: "p2", dataDirectory: joinerDir, join: ["127.0.0.9"]),
                                         dataDirectory: joinerDir, logger: logger)
        #expect(joiner.current == nil)
        #expect(!joiner.isAdminToken(material.adminToken))
        #expect(throws: (any Error).self) { try joiner.secretSealing.seal([1, 2, 3]) }
    }

    @Test("a joiner receives the cluster key, CA and token through the store, by its gossip key")
    func joinerThroughStore() async throws {
        let dir = "/tmp/security-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir + "/a", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/b", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/c", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let gossipKey = try SecretBoxKey.generate()
        try await TestServer.with { s in
            let first = try ClusterSecurity(configuration: PeerConfiguration(name: "a", dataDirectory: dir + "/a"), dataDirectory: dir + "/a", logger: logger)
            let keeper = Task { await first.maintainStore(consensus: s.node, keyring: { [gossipKey] }) }
            defer { keeper.cancel() }
            let joiner = try ClusterSecurity(configuration: PeerConfiguration(name: "b", dataDirectory: dir + "/b", join: ["x"]),
                                             dataDirectory: dir + "/b", logger: logger)
            let material = try await withTimeout(.seconds(10)) {
                try await joiner.waitForMaterial(consensus: s.node, keyring: { [gossipKey] })
            }
            #expect(material.adminToken == first.current?.adminToken)
            #expect(material.clusterKey == first.current?.clusterKey)
            #expect(FileManager.default.fileExists(atPath: ClusterSecurity.tokenPath(dir + "/b")))
            // A peer without the cluster's gossip key gets nothing.
            let stranger = try ClusterSecurity(configuration: PeerConfiguration(name: "c", dataDirectory: dir + "/c", join: ["x"]),
                                               dataDirectory: dir + "/c", logger: logger)
            let strangerKey = try SecretBoxKey.generate()
            await #expect(throws: (any Error).self) {
                _ = try await withTimeout(.seconds(1)) { try await stranger.waitForMaterial(consensus: s.node, keyring: { [strangerKey] }) }
            }
            #expect(stranger.current == nil)
            // The store holds the CA key and token only sealed.
            let raw = try await s.node.read(.linearizable) { store in
                try? store.range(prefix: "/cluster/").items.map { String(decoding: $0.value, as: UTF8.self) }.joined()
            } ?? ""
            #expect(raw.contains("BEGIN CERTIFICATE") && !raw.contains("PRIVATE KEY") && !raw.contains(material.adminToken))
        }
    }

    @Test("a first peer that restarted before its record reached the store still writes it")
    func recordAfterRestart() async throws {
        let dir = "/tmp/security-test-\(UUID().uuidString)"
        for sub in ["a", "b"] { try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let gossipKey = try SecretBoxKey.generate()
        let created = try ClusterSecurity(configuration: PeerConfiguration(name: "a", dataDirectory: dir + "/a"), dataDirectory: dir + "/a", logger: logger)
        try await TestServer.with { s in
            let restarted = try ClusterSecurity(configuration: PeerConfiguration(name: "a", dataDirectory: dir + "/a"), dataDirectory: dir + "/a", logger: logger)
            let keeper = Task { await restarted.maintainStore(consensus: s.node, keyring: { [gossipKey] }) }
            defer { keeper.cancel() }
            let joiner = try ClusterSecurity(configuration: PeerConfiguration(name: "b", dataDirectory: dir + "/b", join: ["x"]),
                                             dataDirectory: dir + "/b", logger: logger)
            let material = try await withTimeout(.seconds(10)) { try await joiner.waitForMaterial(consensus: s.node, keyring: { [gossipKey] }) }
            #expect(material.adminToken == created.current?.adminToken)
        }
    }

    @Test("after a gossip key rotation, a peer that knows only the new key still receives the cluster key")
    func rotation() async throws {
        let dir = "/tmp/security-test-\(UUID().uuidString)"
        for sub in ["a", "b"] { try FileManager.default.createDirectory(atPath: dir + "/" + sub, withIntermediateDirectories: true) }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var logger = Logger(label: "test")
        logger.logLevel = .error
        let oldKey = try SecretBoxKey.generate()
        let newKey = try SecretBoxKey.generate()
        let keyring = KeyringBox([oldKey])
        try await TestServer.with { s in
            let first = try ClusterSecurity(configuration: PeerConfiguration(name: "a", dataDirectory: dir + "/a"), dataDirectory: dir + "/a", logger: logger)
            let keeper = Task { await first.maintainStore(consensus: s.node, keyring: { keyring.keys.withLock { $0 } }, recheck: .milliseconds(50)) }
            defer { keeper.cancel() }
            let newID = try ClusterKeys.identifier(of: newKey)
            try await Task.sleep(for: .milliseconds(300))
            #expect(try await s.node.read(.linearizable) { $0.get(ClusterKeys.keysPrefix + newID) } == nil)
            // Rotation: install the new key, make it primary, drop the old one.
            keyring.keys.withLock { $0 = [newKey] }
            let late = try ClusterSecurity(configuration: PeerConfiguration(name: "b", dataDirectory: dir + "/b", join: ["x"]),
                                           dataDirectory: dir + "/b", logger: logger)
            let material = try await withTimeout(.seconds(10)) {
                try await late.waitForMaterial(consensus: s.node, keyring: { [newKey] })
            }
            #expect(material.clusterKey == first.current?.clusterKey)
        }
    }

    @Test("Secrets are sealed at rest: the store's bytes hold neither the data nor the key names")
    func secretsSealedAtRest() async throws {
        let key = try SecretBoxKey.generate()
        try await TestServer.with(secrets: ClusterKeys.secretSealing(key)) { s in
            let body = #"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"pw"},"stringData":{"password":"hunter2-very-secret"}}"#
            _ = try await s.create("/api/v1/namespaces/default/secrets", body)
            let raw = try #require(try await s.node.read(.linearizable) { $0.get("/registry/core/secrets/default/pw")?.value })
            let text = String(decoding: raw, as: UTF8.self)
            let encoded = Sodium.base64Encode(Array("hunter2-very-secret".utf8))
            #expect(!text.contains("hunter2") && !text.contains(encoded) && !text.contains("password") && !text.contains("Secret"))
            let r = await s.call("GET", "/api/v1/namespaces/default/secrets/pw")
            #expect(r.status == 200 && r.json["data"]?["password"] == .string(encoded))
            // With another key the stored bytes do not open: an error, never garbage.
            let other = ObjectCodec(secrets: ClusterKeys.secretSealing(try SecretBoxKey.generate()))
            #expect(other.decode(raw, as: try #require(ResourceRegistry.lookup(group: "", version: "v1", resource: "secrets")), modRevision: 1) == nil)
        }
    }

    @Test("request labels follow kube-apiserver's verbs and resources")
    func requestLabels() {
        #expect(RequestLabels.of(method: "GET", path: "/api/v1/namespaces/default/pods", watch: false) == ("list", "pods"))
        #expect(RequestLabels.of(method: "GET", path: "/api/v1/namespaces/default/pods", watch: true) == ("watch", "pods"))
        #expect(RequestLabels.of(method: "GET", path: "/api/v1/namespaces/default/pods/p", watch: false) == ("get", "pods"))
        #expect(RequestLabels.of(method: "GET", path: "/api/v1/namespaces/default/pods/p/log", watch: false) == ("get", "pods/log"))
        #expect(RequestLabels.of(method: "PATCH", path: "/apis/apps/v1/namespaces/x/deployments/web/scale", watch: false) == ("patch", "deployments/scale"))
        #expect(RequestLabels.of(method: "POST", path: "/api/v1/namespaces", watch: false) == ("create", "namespaces"))
        #expect(RequestLabels.of(method: "DELETE", path: "/api/v1/namespaces/team", watch: false) == ("delete", "namespaces"))
        #expect(RequestLabels.of(method: "GET", path: "/api/v1/nodes", watch: false) == ("list", "nodes"))
        #expect(RequestLabels.of(method: "GET", path: "/healthz", watch: false) == ("get", "/healthz"))
        #expect(RequestLabels.of(method: "GET", path: "/api/v1", watch: false) == ("get", "/api"))
    }
}

func withTimeout<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: timeout)
            throw TestError("no result within \(timeout)")
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}

@Suite("Access: bearer tokens, request metrics")
struct AccessTests {
    @Test("every path but health needs the admin token; each request is counted by verb, resource and code")
    func tokensAndMetrics() async throws {
        let dir = "/tmp/access-test-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let security = try ClusterSecurity(configuration: PeerConfiguration(name: "p1", dataDirectory: dir), dataDirectory: dir, logger: Logger(label: "t"))
        let token = try #require(security.current?.adminToken)
        let metrics = PeerMetrics()
        try await TestServer.with { s in
            let router = Router()
            router.get("healthz") { _, _ in "ok" }
            s.api.register(on: router)
            let responder = AccessResponder(inner: router.buildResponder(), security: security, metrics: metrics, logger: Logger(label: "t"))
            let app = Application(responder: responder, configuration: .init(address: .hostname("127.0.0.1", port: 0)))
            try await app.test(.router) { client in
                try await client.execute(uri: "/api/v1/namespaces/default/pods", method: .get) { r in
                    #expect(r.status == .unauthorized)
                    #expect(json(r)["reason"] == "Unauthorized" && json(r)["code"] == 401)
                }
                try await client.execute(uri: "/api/v1/namespaces/default/pods", method: .get, headers: [.authorization: "Bearer wrong"]) { r in
                    #expect(r.status == .unauthorized)
                }
                try await client.execute(uri: "/no/such/path", method: .get) { r in
                    #expect(r.status == .unauthorized)
                }
                try await client.execute(uri: "/healthz", method: .get) { r in
                    #expect(r.status == .ok)
                }
                try await client.execute(uri: "/api/v1/namespaces/default/pods", method: .get, headers: [.authorization: "Bearer \(token)"]) { r in
                    #expect(r.status == .ok)
                }
                try await client.execute(uri: "/api/v1/namespaces/default/pods", method: .post,
                                         headers: [.authorization: "Bearer \(token)", .contentType: "application/json"],
                                         body: ByteBuffer(string: podJSON("p1"))) { r in
                    #expect(r.status == .created)
                }
                try await client.execute(uri: "/api/v1/namespaces/default/pods/nope", method: .get, headers: [.authorization: "Bearer \(token)"]) { r in
                    #expect(r.status == .notFound)
                }
            }
            let text = String(decoding: metrics.scrape(raft: s.node.status(), gossip: nil), as: UTF8.self)
            for line in [#"apiserver_request_total{verb="list",resource="pods",code="401"} 2"#,
                         #"apiserver_request_total{verb="list",resource="pods",code="200"} 1"#,
                         #"apiserver_request_total{verb="create",resource="pods",code="201"} 1"#,
                         #"apiserver_request_total{verb="get",resource="pods",code="404"} 1"#,
                         #"apiserver_request_total{verb="get",resource="/healthz",code="200"} 1"#,
                         "raft_is_leader 1", "raft_term "] {
                #expect(text.contains(line), "\(line) not in:\n\(text)")
            }
        }
    }
}

final class KeyringBox: Sendable {
    let keys: Mutex<[SecretBoxKey]>
    init(_ keys: [SecretBoxKey]) { self.keys = Mutex(keys) }
}

@Suite("Configuration: the plain-HTTP escape hatch")
struct InsecureConfigurationTests {
    @Test("insecureHTTP on a non-loopback address needs allowInsecureRemote, from flags or the file")
    func escapeHatch() throws {
        #expect(throws: ConfigurationError.self) {
            try PeerConfiguration(bindAddress: "192.0.2.1", insecureHTTP: true).validate(source: "x")
        }
        var allowed = PeerConfiguration(bindAddress: "192.0.2.1", insecureHTTP: true)
        allowed.allowInsecureRemote = true
        try allowed.validate(source: "x")
        let parsed = try ConfigurationFile.parse("bindAddress: 192.0.2.1\ninsecureHTTP: true\nallowInsecureRemote: true\n", source: "f.yaml")
        #expect(parsed.allowInsecureRemote && parsed.insecureHTTP)
        try parsed.validate(source: "f.yaml")
        // HTTPS needs no escape hatch on any address.
        try PeerConfiguration(bindAddress: "192.0.2.1").validate(source: "x")
    }
}
