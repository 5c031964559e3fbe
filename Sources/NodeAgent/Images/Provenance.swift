import ResourceModel
import Sodium

/// Which keys an image must be signed by, per namespace and image prefix, and what happens when it is not.
///
/// The most specific matching entry decides: the longest matching prefix, then an entry naming the namespace
/// over one for every namespace. No matching entry means `defaultMode` with no trusted keys — with the default
/// `enforce`, an image nobody vouches for does not run.
public struct TrustPolicy: Sendable, Equatable {
    public enum Mode: String, Sendable, Equatable {
        /// Refuse to run what does not verify.
        case enforce
        /// Run it, but log why it would have been refused.
        case warn
    }

    public struct Entry: Sendable, Equatable {
        /// A repository prefix at a path boundary (`demo` covers `demo` and `demo/web`; `demo/` only the
        /// latter); empty covers every image. Registry hosts are not part of the name.
        public var prefix: String
        /// Namespaces this entry is for; empty means all.
        public var namespaces: [String]
        public var keys: [SigningPublicKey]
        public var mode: Mode

        public init(prefix: String = "", namespaces: [String] = [], keys: [SigningPublicKey], mode: Mode = .enforce) {
            self.prefix = prefix
            self.namespaces = namespaces
            self.keys = keys
            self.mode = mode
        }

        /// From configuration values: `keys` in base64, `mode` "enforce" or "warn" (empty means enforce).
        public init(prefix: String, namespaces: [String], base64Keys: [String], mode: String) throws(TrustPolicy.ConfigurationError) {
            guard let parsedMode = mode.isEmpty ? .enforce : Mode(rawValue: mode) else {
                throw ConfigurationError(field: "mode", message: "'\(mode)' is not a trust mode (enforce, warn)")
            }
            var parsedKeys: [SigningPublicKey] = []
            for (i, text) in base64Keys.enumerated() {
                guard let key = try? SigningPublicKey(base64: text) else {
                    throw ConfigurationError(field: "keys[\(i)]", message: "not a base64 Ed25519 public key (as 'peer keygen signing' prints)")
                }
                parsedKeys.append(key)
            }
            guard prefix.isEmpty || ImageReference.isValidRepository(prefix.imageTrimmingSuffix("/")) else {
                throw ConfigurationError(field: "prefix", message: "'\(prefix)' is not a repository prefix (like 'demo' or 'team/app')")
            }
            self.init(prefix: prefix, namespaces: namespaces, keys: parsedKeys, mode: parsedMode)
        }

        func matches(repository: String) -> Bool {
            if prefix.isEmpty || repository == prefix { return true }
            if prefix.hasSuffix("/") { return repository.hasPrefix(prefix) }
            return repository.hasPrefix(prefix + "/")
        }
    }

    /// A bad configuration value: which field of the entry, and why.
    public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
        public var field: String
        public var message: String
        public var description: String { "\(field): \(message)" }
    }

    public var entries: [Entry]
    public var defaultMode: Mode

    public init(entries: [Entry] = [], defaultMode: Mode = .enforce) {
        self.entries = entries
        self.defaultMode = defaultMode
    }

    /// The rule for one image in one namespace.
    public func rule(repository: String, namespace: String) -> (keys: [SigningPublicKey], mode: Mode) {
        let candidates = entries.filter { $0.matches(repository: repository) && ($0.namespaces.isEmpty || $0.namespaces.contains(namespace)) }
        let best = candidates.max { a, b in
            if a.prefix.count != b.prefix.count { return a.prefix.count < b.prefix.count }
            return a.namespaces.isEmpty && !b.namespaces.isEmpty
        }
        guard let best else { return ([], defaultMode) }
        return (best.keys, best.mode)
    }
}

/// The signed payload, in the shape of cosign's "simple signing" format, serialized canonically (sorted keys,
/// no whitespace) so signer and verifier hash the same bytes.
public enum SimpleSigning {
    public static let type = "cosign container image signature"

    public static func payload(repository: String, manifestDigest: Digest) -> [UInt8] {
        let json: JSONValue = [
            "critical": [
                "identity": ["docker-reference": .string(repository)],
                "image": ["docker-manifest-digest": .string(manifestDigest.description)],
                "type": .string(type),
            ],
            "optional": .null,
        ]
        return Array(json.serialized(sortedKeys: true).utf8)
    }

    /// The repository and digest a payload names; nil when it is not a simple-signing payload.
    public static func parse(_ payload: [UInt8]) -> (repository: String, digest: String)? {
        guard let json = try? JSONValue.parse(payload, limits: JSONParseLimits(maxDepth: 16, maxBytes: 64 << 10)),
            let critical = json["critical"],
            critical["type"]?.stringValue == type,
            let repository = critical["identity"]?["docker-reference"]?.stringValue,
            let digest = critical["image"]?["docker-manifest-digest"]?.stringValue
        else { return nil }
        return (repository, digest)
    }
}

/// One signature as it travels: the payload blob and the detached Ed25519 signature over it.
public struct SignatureRecord: Sendable, Equatable {
    public var payload: [UInt8]
    public var signature: [UInt8]
    /// The signer's key as the signature claims it; only a hint.
    public var publicKeyHint: String?

    public init(payload: [UInt8], signature: [UInt8], publicKeyHint: String? = nil) {
        self.payload = payload
        self.signature = signature
        self.publicKeyHint = publicKeyHint
    }
}

/// Decides whether the signatures found for an image satisfy the trusted keys. Pure: no IO, no clock.
public enum SignatureCheck {
    public enum Verdict: Sendable, Equatable {
        case trusted(SigningPublicKey)
        /// Why not, in one sentence.
        case refused(String)
    }

    public static func verify(signatures: [SignatureRecord], repository: String, manifestDigest: Digest,
                              trustedKeys: [SigningPublicKey]) -> Verdict {
        guard !signatures.isEmpty else { return .refused("image \(repository)@\(manifestDigest) is not signed") }
        guard !trustedKeys.isEmpty else {
            return .refused("no key is trusted for image \(repository); its signatures cannot be verified")
        }
        var otherDigest: String?
        var otherIdentity: String?
        var validSignature = false
        for record in signatures {
            guard let key = trustedKeys.first(where: { $0.isValidSignature(record.signature, for: record.payload) }) else { continue }
            validSignature = true
            guard let claims = SimpleSigning.parse(record.payload) else { continue }
            guard claims.digest == manifestDigest.description else {
                otherDigest = claims.digest
                continue
            }
            guard claims.repository == repository else {
                otherIdentity = claims.repository
                continue
            }
            return .trusted(key)
        }
        if let otherDigest {
            return .refused("the signature of image \(repository) is for digest \(otherDigest), not \(manifestDigest)")
        }
        if let otherIdentity {
            return .refused("the signature of \(manifestDigest) names image \(otherIdentity), not \(repository)")
        }
        if validSignature {
            return .refused("the signature of image \(repository) is not a valid simple-signing payload")
        }
        return .refused("image \(repository)@\(manifestDigest) is not signed by a trusted key")
    }
}
