import Crypto
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ResourceModel
import Sodium

/// The cluster key and what it protects.
///
/// One random secretbox key per cluster (the *cluster key*) seals everything members share but nobody else may
/// read: the CA's private key, the admin token, and every Secret at rest. It lives in each member's data
/// directory (`cluster.key`, mode 0600) and in the Raft store wrapped once per gossip key
/// (`/cluster/keys/<key id>`), under a key derived from that gossip key with keyed BLAKE2b. Holding the gossip
/// key is what makes a peer a member, so a peer that joins opens the wrap for its gossip key as soon as the
/// store has reached it; no one copies files by hand. Members add a wrap for every gossip key they hold, so a
/// gossip key rotation leaves the next joiner able to open it too.
enum ClusterKeys {
    struct KeyError: Error, CustomStringConvertible {
        let description: String
    }

    static let keysPrefix = "/cluster/keys/"
    static let authorityKey = "/cluster/authority"

    /// Distinct additional data for each use, so a box made for one purpose never opens as another.
    enum Purpose: String {
        case wrap = "peer/cluster-key-wrap/v1"
        case caKey = "peer/ca-key/v1"
        case adminToken = "peer/admin-token/v1"
        case secret = "peer/secret/v1"
        var additionalData: [UInt8] { Array(rawValue.utf8) }
    }

    static func bytes(_ key: SecretBoxKey) -> [UInt8] {
        (try? Sodium.base64Decode(key.base64EncodedString())) ?? []
    }

    /// The key that wraps the cluster key for holders of `gossipKey`.
    static func wrappingKey(for gossipKey: SecretBoxKey) throws(SodiumError) -> SecretBoxKey {
        let derived = try Blake2b.hash(Array("peer cluster key wrapping v1".utf8), outputLength: 32, key: bytes(gossipKey))
        return try SecretBoxKey(bytes: derived)
    }

    /// A public name for a gossip key that reveals nothing about it (a different derivation from the wrapping key).
    static func identifier(of gossipKey: SecretBoxKey) throws(SodiumError) -> String {
        let digest = try Blake2b.hash(Array("peer gossip key identifier v1".utf8), outputLength: 16, key: bytes(gossipKey))
        return digest.map { String($0, radix: 16).leftPadded(to: 2) }.joined()
    }

    static func wrap(_ clusterKey: SecretBoxKey, for gossipKey: SecretBoxKey) throws(SodiumError) -> [UInt8] {
        try SecretBox(key: wrappingKey(for: gossipKey)).seal(bytes(clusterKey), additionalData: Purpose.wrap.additionalData)
    }

    static func unwrap(_ wrapped: [UInt8], with gossipKey: SecretBoxKey) throws(SodiumError) -> SecretBoxKey {
        try SecretBoxKey(bytes: SecretBox(key: wrappingKey(for: gossipKey)).open(wrapped, additionalData: Purpose.wrap.additionalData))
    }

    /// How Secrets are sealed at rest: secretbox under the cluster key, the store key's purpose as additional data.
    static func secretSealing(_ key: SecretBoxKey) -> SecretSealing {
        let box = SecretBox(key: key)
        return SecretSealing(
            seal: { plaintext in try box.seal(plaintext, additionalData: Purpose.secret.additionalData) },
            open: { sealed in try? box.open(sealed, additionalData: Purpose.secret.additionalData) })
    }

    /// A new admin token: 32 random bytes, base64url without padding (safe in headers and YAML).
    static func newToken() throws(SodiumError) -> String {
        Sodium.base64Encode(try Sodium.randomBytes(count: 32))
            .replacing("+", with: "-").replacing("/", with: "_")
            .replacing("=", with: "")
    }

    static func tokenHash(_ token: String) -> [UInt8] {
        Array(SHA256.hash(data: Array(token.utf8)))
    }
}

/// What the store holds about the cluster's CA and admin token: the certificate in the clear, the rest sealed
/// under the cluster key. Written once, by the first peer, with a create-only guard.
struct AuthorityRecord: Codable, Sendable, Equatable {
    var caCertificate: String
    /// base64 of the CA's private key PEM, sealed.
    var sealedCAKey: String
    /// hex SHA-256 of the admin token: what the API checks a bearer token against.
    var adminTokenSHA256: String
    /// base64 of the admin token, sealed, so any member can print a kubeconfig.
    var sealedAdminToken: String

    static func make(authority: ClusterAuthority, adminToken: String, clusterKey: SecretBoxKey) throws -> AuthorityRecord {
        let box = SecretBox(key: clusterKey)
        return AuthorityRecord(
            caCertificate: try authority.certificatePEM,
            sealedCAKey: Sodium.base64Encode(try box.seal(Array(authority.privateKeyPEM.utf8),
                                                          additionalData: ClusterKeys.Purpose.caKey.additionalData)),
            adminTokenSHA256: ClusterKeys.tokenHash(adminToken).map { String($0, radix: 16).leftPadded(to: 2) }.joined(),
            sealedAdminToken: Sodium.base64Encode(try box.seal(Array(adminToken.utf8),
                                                               additionalData: ClusterKeys.Purpose.adminToken.additionalData)))
    }

    struct Opened: Sendable {
        var authority: ClusterAuthority
        var adminToken: String
    }

    func open(with clusterKey: SecretBoxKey) throws -> Opened {
        let box = SecretBox(key: clusterKey)
        let keyPEM = try box.open(Sodium.base64Decode(sealedCAKey), additionalData: ClusterKeys.Purpose.caKey.additionalData)
        let token = try box.open(Sodium.base64Decode(sealedAdminToken), additionalData: ClusterKeys.Purpose.adminToken.additionalData)
        return Opened(authority: try ClusterAuthority(certificatePEM: caCertificate, privateKeyPEM: String(decoding: keyPEM, as: UTF8.self)),
                      adminToken: String(decoding: token, as: UTF8.self))
    }

    func encoded() throws -> [UInt8] {
        // Slashes stay escaped (`\/`): the bytes match what JSONEncoder wrote before.
        try JSONValue.encodeJSON(self, options: [.sortedKeys])
    }

    static func decode(_ bytes: [UInt8]) throws -> AuthorityRecord {
        try JSONValue.decode(AuthorityRecord.self, from: bytes)
    }
}
