import Consensus
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gossip
import Logging
import NIOSSL
import Sodium
import ServiceLifecycle
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// This peer's share of the cluster's security: the cluster key, the CA, the admin token and this peer's
/// serving certificate, and the files the local CLI reads.
///
/// Data directory (every member, all mode 0600):
/// - `cluster.key`: the cluster key (base64); see `ClusterKeys`.
/// - `authority.json`: a copy of the store's `/cluster/authority` record (CA certificate, sealed CA key,
///   admin-token hash, sealed token), so a restarted peer serves HTTPS before Raft has a quorum.
/// - `ca.crt`, `admin.token`: what `peer members` and `peer kubeconfig` read. Whoever can read the data
///   directory can read `cluster.key` and open everything anyway, so these add no exposure.
final class ClusterSecurity: Sendable {
    struct Material: Sendable {
        var clusterKey: SecretBoxKey
        var record: AuthorityRecord
        var authority: ClusterAuthority
        var adminToken: String
        var adminTokenHash: [UInt8]
    }

    struct SetupError: Error, CustomStringConvertible {
        let description: String
    }

    let dataDirectory: String
    let configuration: PeerConfiguration
    let logger: Logger
    private let material = Mutex<Material?>(nil)

    static func clusterKeyPath(_ dir: String) -> String { dir + "/cluster.key" }
    static func authorityPath(_ dir: String) -> String { dir + "/authority.json" }
    static func caPath(_ dir: String) -> String { dir + "/ca.crt" }
    static func tokenPath(_ dir: String) -> String { dir + "/admin.token" }

    /// Loads what the data directory holds; the first peer of a new cluster (no `--join`, nothing on disk)
    /// creates the cluster key, the CA and the admin token here.
    init(configuration: PeerConfiguration, dataDirectory: String, logger: Logger, now: Date = Date()) throws(SetupError) {
        self.configuration = configuration
        self.dataDirectory = dataDirectory
        self.logger = logger
        let keyPath = Self.clusterKeyPath(dataDirectory)
        if SmallFile.exists(keyPath) {
            let key: SecretBoxKey
            do { key = try SecretBoxKey(base64: try SmallFile.read(keyPath).trimmingWhitespace()) } catch {
                throw SetupError(description: "cluster key \(keyPath) is unreadable: \(error)")
            }
            if let text = try? SmallFile.read(Self.authorityPath(dataDirectory)) {
                do {
                    let record = try AuthorityRecord.decode(Array(text.utf8))
                    material.withLock { $0 = try? Self.material(record: record, clusterKey: key) }
                    if material.withLock({ $0 == nil }) {
                        throw SetupError(description: "\(Self.authorityPath(dataDirectory)) does not open with \(keyPath)")
                    }
                } catch let error as SetupError {
                    throw error
                } catch {
                    throw SetupError(description: "\(Self.authorityPath(dataDirectory)) is unreadable: \(error)")
                }
            } else {
                // The key arrived but the record did not (a crash in between): fetch it from the store again.
                pendingKey.withLock { $0 = key }
            }
        } else if configuration.join.isEmpty {
            do {
                let key = try SecretBoxKey.generate()
                let authority = try ClusterAuthority.create(clusterName: configuration.name, now: now)
                let token = try ClusterKeys.newToken()
                let record = try AuthorityRecord.make(authority: authority, adminToken: token, clusterKey: key)
                let material = try Self.material(record: record, clusterKey: key)
                try Self.save(material, dataDirectory: dataDirectory)
                self.material.withLock { $0 = material }
            } catch {
                throw SetupError(description: "cannot create the cluster CA and keys: \(error)")
            }
            logger.notice("created the cluster CA, cluster key and admin token", metadata: [
                "ca": "\(Self.caPath(dataDirectory))", "token": "\(Self.tokenPath(dataDirectory))"])
        }
    }

    /// A cluster key read from disk whose authority record still has to come from the store.
    private let pendingKey = Mutex<SecretBoxKey?>(nil)

    static func material(record: AuthorityRecord, clusterKey: SecretBoxKey) throws -> Material {
        let opened = try record.open(with: clusterKey)
        return Material(clusterKey: clusterKey, record: record, authority: opened.authority, adminToken: opened.adminToken,
                        adminTokenHash: ClusterKeys.tokenHash(opened.adminToken))
    }

    static func save(_ material: Material, dataDirectory: String) throws {
        try SmallFile.writeAtomically(clusterKeyPath(dataDirectory), material.clusterKey.base64EncodedString() + "\n")
        try SmallFile.writeAtomically(authorityPath(dataDirectory), String(decoding: try material.record.encoded(), as: UTF8.self) + "\n")
        try SmallFile.writeAtomically(caPath(dataDirectory), material.record.caCertificate)
        try SmallFile.writeAtomically(tokenPath(dataDirectory), material.adminToken + "\n")
    }

    var current: Material? { material.withLock { $0 } }

    /// Secrets are sealed under the cluster key; until this peer has it, Secret writes are refused (503) and
    /// reads fail, rather than anything being stored in the clear.
    var secretSealing: SecretSealing {
        SecretSealing(
            seal: { [self] plaintext in
                guard let key = current?.clusterKey else { throw SetupError(description: "this peer has not received the cluster key yet") }
                return try ClusterKeys.secretSealing(key).seal(plaintext)
            },
            open: { [self] sealed in
                guard let key = current?.clusterKey else { return nil }
                return ClusterKeys.secretSealing(key).open(sealed)
            })
    }

    /// Constant-time check of a bearer token against the admin token's hash.
    func isAdminToken(_ token: String) -> Bool {
        guard let expected = current?.adminTokenHash else { return false }
        return Sodium.constantTimeEqual(ClusterKeys.tokenHash(token), expected)
    }

    /// Waits until this peer holds the cluster's material: at once on the first peer or after a restart, or
    /// once the store has replicated the authority record and a wrap of the cluster key for our gossip key.
    func waitForMaterial(consensus: ConsensusNode, keyring: @Sendable () -> [SecretBoxKey]) async throws -> Material {
        while true {
            if let material = current { return material }
            try Task.checkCancellation()
            let seen = consensus.revision
            if let fetched = try await fetch(consensus: consensus, keyring: keyring()) {
                // The API and the keeper both wait; the first to get here records the material, once.
                return try self.material.withLock { (installed: inout Material?) throws(SetupError) -> Material in
                    if let installed { return installed }
                    do { try Self.save(fetched, dataDirectory: dataDirectory) } catch {
                        throw SetupError(description: "cannot record the cluster keys in \(dataDirectory): \(error)")
                    }
                    installed = fetched
                    logger.notice("received the cluster CA and keys through the cluster store")
                    return fetched
                }
            }
            if waitingAnnounced.withLock({ announced in defer { announced = true }; return !announced }) {
                logger.info("waiting for the cluster store to deliver the cluster CA and keys before serving the API")
            }
            // The record and our wrap arrive as store writes, so a store change wakes the wait; the bound covers
            // a keyring change (a rotation) that touches no store. Polling here was most of a joining peer's
            // wake-ups until Raft took it in.
            await Self.waitForChange(consensus: consensus, after: seen, atMost: .seconds(2))
            try Task.checkCancellation()
        }
    }

    private static func waitForChange(consensus: ConsensusNode, after revision: UInt64, atMost bound: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = try? await consensus.waitForRevision(after: revision) }
            group.addTask { try? await Task.sleep(for: bound) }
            _ = await group.next()
            group.cancelAll()
        }
    }

    private let waitingAnnounced = Mutex(false)

    private func fetch(consensus: ConsensusNode, keyring: [SecretBoxKey]) async throws -> Material? {
        let ids = keyring.compactMap { try? ClusterKeys.identifier(of: $0) }
        let found: (record: [UInt8]?, wraps: [String: [UInt8]]) = try await consensus.read(.stale) { store in
            var wraps: [String: [UInt8]] = [:]
            for id in ids { if let kv = store.get(ClusterKeys.keysPrefix + id) { wraps[id] = kv.value } }
            return (store.get(ClusterKeys.authorityKey)?.value, wraps)
        }
        guard let recordBytes = found.record else { return nil }
        let record: AuthorityRecord
        do { record = try AuthorityRecord.decode(recordBytes) } catch {
            throw SetupError(description: "the store's cluster authority record is unreadable: \(error)")
        }
        var candidates: [SecretBoxKey] = pendingKey.withLock { $0 }.map { [$0] } ?? []
        for (key, id) in zip(keyring, ids) {
            if let wrapped = found.wraps[id], let clusterKey = try? ClusterKeys.unwrap(wrapped, with: key) { candidates.append(clusterKey) }
        }
        for key in candidates {
            if let material = try? Self.material(record: record, clusterKey: key) { return material }
        }
        return nil
    }

    /// Keeps the store in step with what this peer holds: the authority record (the first peer writes it,
    /// create-only) and a wrap of the cluster key for every gossip key in our keyring (after a rotation too).
    func maintainStore(consensus: ConsensusNode, keyring: @Sendable () -> [SecretBoxKey], recheck: Duration = .seconds(10)) async {
        var wrapped: Set<String> = []
        var recordInStore = false
        while !Task.isCancelled {
            if let material = current, consensus.status().leader != 0 {
                do {
                    if !recordInStore {
                        recordInStore = try await ensureRecord(material, consensus: consensus)
                    }
                    for key in keyring() {
                        let id = try ClusterKeys.identifier(of: key)
                        guard !wrapped.contains(id) else { continue }
                        let exists = try await consensus.read(.linearizable) { $0.get(ClusterKeys.keysPrefix + id) != nil }
                        if !exists {
                            let value = try ClusterKeys.wrap(material.clusterKey, for: key)
                            _ = try await consensus.propose(.put(key: ClusterKeys.keysPrefix + id, value: value, expectedModRevision: 0))
                            logger.info("stored the cluster key wrapped for a gossip key", metadata: ["keyID": "\(id)"])
                        }
                        wrapped.insert(id)
                    }
                } catch {
                    logger.debug("cluster key bookkeeping will retry", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: wrapped.isEmpty || !recordInStore ? .seconds(1) : recheck)
        }
    }

    /// true once the store holds the record (ours, or one that opens with our key). Any holder writes it when
    /// missing (create-only, so the first write wins): a first peer that crashed before its write is covered.
    private func ensureRecord(_ material: Material, consensus: ConsensusNode) async throws -> Bool {
        let existing = try await consensus.read(.linearizable) { $0.get(ClusterKeys.authorityKey)?.value }
        if let existing {
            if (try? Self.material(record: AuthorityRecord.decode(existing), clusterKey: material.clusterKey)) == nil {
                logger.error("the store's cluster authority record does not open with this peer's cluster key; this data directory belongs to another cluster")
            }
            return true
        }
        let result = try await consensus.propose(.put(key: ClusterKeys.authorityKey, value: material.record.encoded(), expectedModRevision: 0))
        if case .applied = result { logger.info("stored the cluster CA and admin token (sealed) in the cluster store") }
        return true
    }

    /// The TLS configuration this peer serves with: a certificate it issues itself, now, from the cluster CA.
    func servingTLS(_ material: Material, now: Date = Date()) throws -> TLSConfiguration {
        // A wildcard bind serves on every interface: name each of their addresses.
        let wildcard = configuration.bindAddress == "0.0.0.0" || configuration.bindAddress == "::"
        let ips = wildcard ? Self.interfaceAddresses() : [configuration.bindAddress]
        let serving = try material.authority.issueServing(name: configuration.name, dnsNames: [], ipAddresses: ips, now: now)
        let chain = try NIOSSLCertificate.fromPEMBytes(Array(serving.certificatePEM.utf8))
        let key = try NIOSSLPrivateKey(bytes: Array(serving.privateKeyPEM.utf8), format: .pem)
        var tls = TLSConfiguration.makeServerConfiguration(certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key))
        tls.minimumTLSVersion = .tlsv12
        return tls
    }
}

extension ClusterSecurity {
    /// The IPv4 and IPv6 addresses of this host's interfaces.
    static func interfaceAddresses() -> [String] {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(list) }
        var addresses: [String] = []
        for entry in sequence(first: first, next: { $0.pointee.ifa_next }) {
            guard let address = entry.pointee.ifa_addr else { continue }
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                var v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                guard inet_ntop(AF_INET, &v4, &buffer, socklen_t(buffer.count)) != nil else { continue }
            case AF_INET6:
                var v6 = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                guard inet_ntop(AF_INET6, &v6, &buffer, socklen_t(buffer.count)) != nil else { continue }
            default:
                continue
            }
            addresses.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return addresses
    }

    /// `https://host:port` clients of this peer dial (loopback for a wildcard bind), as `peer kubeconfig` prints it.
    static func apiURL(_ configuration: PeerConfiguration, secure: Bool) -> String {
        var host = configuration.bindAddress
        if host == "0.0.0.0" { host = "127.0.0.1" }
        if host == "::" { host = "::1" }
        // A Character, so the stdlib answers (the String overload resolves to Foundation's NSString bridge).
        if host.contains(Character(":")) { host = "[\(host)]" }
        return "\(secure ? "https" : "http")://\(host):\(configuration.apiPort)"
    }

    static func apiURLPath(_ dir: String) -> String { dir + "/api.url" }
}

/// Gets the cluster's material when this peer lacks it (a joiner), then keeps the store's copies in step.
struct SecurityKeeper: Service {
    let security: ClusterSecurity
    let consensus: ConsensusNode
    let gossip: GossipNode

    func run() async throws {
        let gossip = self.gossip
        await cancelWhenGracefulShutdown {
            do {
                _ = try await security.waitForMaterial(consensus: consensus, keyring: { gossip.keyring.keys })
            } catch is CancellationError {
                return
            } catch {
                security.logger.error("cannot take part in the cluster's keys", metadata: ["error": "\(error)"])
            }
            await security.maintainStore(consensus: consensus, keyring: { gossip.keyring.keys })
        }
    }
}
