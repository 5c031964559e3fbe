import CSodium

/// An Ed25519 public key (32 bytes). Safe to share, print and compare.
public struct SigningPublicKey: Hashable, Sendable, CustomStringConvertible {
    public static let byteCount = 32
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(SodiumError) {
        try checkLength("Ed25519 public key", bytes.count, SigningPublicKey.byteCount)
        self.bytes = bytes
    }

    public init(base64: String) throws(SodiumError) {
        try self.init(bytes: Sodium.base64Decode(base64))
    }

    public var base64EncodedString: String { Sodium.base64Encode(bytes) }
    public var description: String { "SigningPublicKey(\(base64EncodedString))" }

    /// True only for a valid detached signature of `message` by this key.
    public func isValidSignature(_ signature: Signature, for message: [UInt8]) -> Bool {
        guard SodiumRuntime.ready else { return false }
        return withBytePointer(signature.bytes) { sig in
            withBytePointer(message) { msg in
                withBytePointer(bytes) { pk in
                    crypto_sign_verify_detached(sig, msg, UInt64(message.count), pk) == 0
                }
            }
        }
    }

    /// Same, for raw bytes off the wire: a signature of the wrong size is simply invalid.
    public func isValidSignature(_ signature: [UInt8], for message: [UInt8]) -> Bool {
        guard let parsed = try? Signature(bytes: signature) else { return false }
        return isValidSignature(parsed, for: message)
    }
}

/// A detached Ed25519 signature (64 bytes).
public struct Signature: Hashable, Sendable {
    public static let byteCount = 64
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) throws(SodiumError) {
        try checkLength("Ed25519 signature", bytes.count, Signature.byteCount)
        self.bytes = bytes
    }

    fileprivate init(unchecked bytes: [UInt8]) { self.bytes = bytes }
}

/// An Ed25519 key pair. The secret half lives in memory wiped on release and is
/// never printed; export it only as the 32-byte seed (for config files).
public struct SigningKeyPair: Sendable, CustomStringConvertible {
    public static let seedByteCount = 32
    public let publicKey: SigningPublicKey
    private let secret: SecretBytes  // libsodium's 64-byte form: seed || public key

    /// A fresh random key pair.
    public static func generate() throws(SodiumError) -> SigningKeyPair {
        var seed = try Sodium.randomBytes(count: seedByteCount)
        defer { Sodium.wipe(&seed) }
        return try SigningKeyPair(seed: seed)
    }

    /// Deterministic key pair from a 32-byte seed (what RFC 8032 calls the secret key).
    public init(seed: [UInt8]) throws(SodiumError) {
        try SodiumRuntime.ensure()
        try checkLength("Ed25519 seed", seed.count, SigningKeyPair.seedByteCount)
        var pk = [UInt8](repeating: 0, count: SigningPublicKey.byteCount)
        var status: Int32 = -1
        let sk = SecretBytes(count: Int(crypto_sign_secretkeybytes())) { skPointer in
            status = withMutableBytePointer(&pk) { pkPointer in
                withBytePointer(seed) { seedPointer in
                    crypto_sign_seed_keypair(pkPointer, skPointer, seedPointer)
                }
            }
        }
        guard status == 0 else { throw .operationFailed("crypto_sign_seed_keypair") }
        secret = sk
        publicKey = try SigningPublicKey(bytes: pk)
    }

    /// Key pair from a base64 seed, as written by `seedBase64EncodedString()`.
    public init(seedBase64: String) throws(SodiumError) {
        var seed = try Sodium.base64Decode(seedBase64)
        defer { Sodium.wipe(&seed) }
        try self.init(seed: seed)
    }

    /// The 32-byte seed; the caller should `Sodium.wipe` it when done.
    public func seed() -> [UInt8] {
        var full = secret.bytes
        defer { Sodium.wipe(&full) }
        return Array(full.prefix(SigningKeyPair.seedByteCount))
    }

    /// For config files; treat the text as a secret.
    public func seedBase64EncodedString() -> String {
        var s = seed()
        defer { Sodium.wipe(&s) }
        return Sodium.base64Encode(s)
    }

    public func sign(_ message: [UInt8]) -> Signature {
        var sig = [UInt8](repeating: 0, count: Signature.byteCount)
        let status = secret.withPointer { sk in
            withMutableBytePointer(&sig) { out in
                withBytePointer(message) { msg in
                    crypto_sign_detached(out, nil, msg, UInt64(message.count), sk)
                }
            }
        }
        // Cannot fail for the well-formed key init guarantees; an all-zero
        // signature would simply never verify.
        if status != 0 { sig = [UInt8](repeating: 0, count: Signature.byteCount) }
        return Signature(unchecked: sig)
    }

    public var description: String { "SigningKeyPair(public: \(publicKey.base64EncodedString), secret: redacted)" }
}
