import Consensus
import ResourceModel

/// Where and how API objects live in the cluster store.
///
/// Layout: `/registry/<group>/<resource>/<namespace>/<name>` (`core` for the core group; cluster-scoped
/// kinds have no namespace segment). The value is the object's JSON without `metadata.resourceVersion`:
/// the resource version is the key's modRevision and is set on the way out, so it can never disagree
/// with the store.
public enum ObjectKeys {
    public static func groupSegment(_ info: ResourceInfo) -> String { info.group.isEmpty ? "core" : info.group }

    /// The key of one object; `namespace` is ignored for cluster-scoped kinds.
    public static func key(_ info: ResourceInfo, namespace: String?, name: String) -> String {
        prefix(info, namespace: namespace) + name
    }

    /// The prefix of a collection: one namespace's objects, or (nil namespace) every object of the kind.
    public static func prefix(_ info: ResourceInfo, namespace: String?) -> String {
        var p = "/registry/\(groupSegment(info))/\(info.resource)/"
        if info.namespaced, let namespace { p += namespace + "/" }
        return p
    }
}

/// Encryption at rest for Secrets. Every Secret read and write goes through `seal`/`open` (and nothing
/// else does); a peer plugs in secretbox under the cluster key (`ClusterKeys.secretSealing`).
public struct SecretSealing: Sendable {
    /// Throws when the bytes cannot be sealed (no cluster key yet): the write is refused, never stored in the clear.
    public var seal: @Sendable ([UInt8]) throws -> [UInt8]
    /// nil when the bytes cannot be opened (wrong key, tampered).
    public var open: @Sendable ([UInt8]) -> [UInt8]?

    public init(seal: @escaping @Sendable ([UInt8]) throws -> [UInt8], open: @escaping @Sendable ([UInt8]) -> [UInt8]?) {
        self.seal = seal
        self.open = open
    }

    /// Stores Secrets as plain JSON, like every other object: for tests of the API alone.
    public static let plaintext = SecretSealing(seal: { $0 }, open: { $0 })
}

/// Turns objects into stored bytes and back.
struct ObjectCodec: Sendable {
    let secrets: SecretSealing

    func encode(_ object: JSONValue, as info: ResourceInfo) throws(APIError) -> [UInt8] {
        var stored = object
        stored.set(nil, at: ["metadata", "resourceVersion"])
        let bytes = Array(stored.serialized().utf8)
        return info.kind == "Secret" ? try sealSecret(bytes) : bytes
    }

    /// nil for bytes that do not decode (a corrupt entry is reported, never crashes the server).
    func decode(_ bytes: [UInt8], as info: ResourceInfo, modRevision: UInt64) -> JSONValue? {
        let plain: [UInt8]
        if info.kind == "Secret" {
            guard let opened = openSecret(bytes) else { return nil }
            plain = opened
        } else {
            plain = bytes
        }
        guard var object = try? JSONValue.parse(plain), object.objectValue != nil else { return nil }
        object.set(.string(String(modRevision)), at: ["metadata", "resourceVersion"])
        if object["kind"] == nil { object["kind"] = .string(info.kind) }
        if object["apiVersion"] == nil { object["apiVersion"] = .string(info.groupVersion) }
        return object
    }

    /// The one way a Secret is written to the store.
    func sealSecret(_ plaintext: [UInt8]) throws(APIError) -> [UInt8] {
        do { return try secrets.seal(plaintext) } catch {
            throw APIError.unavailable("Secrets cannot be written yet: \(error)")
        }
    }
    /// The one way a Secret is read from the store.
    func openSecret(_ stored: [UInt8]) -> [UInt8]? { secrets.open(stored) }
}
