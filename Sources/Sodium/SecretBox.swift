import CSodium

/// A 32-byte symmetric key for `SecretBox`, wiped from memory on release.
public struct SecretBoxKey: Sendable, Equatable, CustomStringConvertible {
    public static let byteCount = 32
    fileprivate let secret: SecretBytes

    public static func generate() throws(SodiumError) -> SecretBoxKey {
        try SodiumRuntime.ensure()
        let secret = SecretBytes(count: byteCount) { crypto_aead_xchacha20poly1305_ietf_keygen($0) }
        return SecretBoxKey(secret: secret)
    }

    public init(bytes: [UInt8]) throws(SodiumError) {
        try SodiumRuntime.ensure()
        try checkLength("secretbox key", bytes.count, SecretBoxKey.byteCount)
        secret = SecretBytes(copying: bytes)
    }

    public init(base64: String) throws(SodiumError) {
        var bytes = try Sodium.base64Decode(base64)
        defer { Sodium.wipe(&bytes) }
        try self.init(bytes: bytes)
    }

    private init(secret: SecretBytes) { self.secret = secret }

    /// For config files; treat the text as a secret.
    public func base64EncodedString() -> String {
        var bytes = secret.bytes
        defer { Sodium.wipe(&bytes) }
        return Sodium.base64Encode(bytes)
    }

    public static func == (a: SecretBoxKey, b: SecretBoxKey) -> Bool { a.secret.equals(b.secret) }
    public var description: String { "SecretBoxKey(redacted)" }
}

/// Authenticated encryption with XChaCha20-Poly1305 and a fresh random 24-byte nonce
/// per message (random nonces are safe at this size). Output: nonce || ciphertext || tag.
public struct SecretBox: Sendable {
    public static let nonceByteCount = 24
    public static let tagByteCount = 16
    /// Bytes `seal` adds to the plaintext.
    public static let overhead = nonceByteCount + tagByteCount

    public let key: SecretBoxKey

    public init(key: SecretBoxKey) {
        self.key = key
    }

    public func seal(_ plaintext: [UInt8], additionalData: [UInt8] = []) throws(SodiumError) -> [UInt8] {
        try SodiumRuntime.ensure()
        // size_t comes in as Int; reinterpret so SIZE_MAX-like limits do not go negative.
        guard UInt(plaintext.count) <= UInt(bitPattern: crypto_aead_xchacha20poly1305_ietf_messagebytes_max()),
            plaintext.count <= Int.max - SecretBox.overhead
        else { throw .messageTooLong }
        var out = [UInt8](repeating: 0, count: SecretBox.overhead + plaintext.count)
        var written: UInt64 = 0
        let status = key.secret.withPointer { k in
            withMutableBytePointer(&out) { base in
                randombytes_buf(base, SecretBox.nonceByteCount)
                return withBytePointer(plaintext) { m in
                    withBytePointer(additionalData) { ad in
                        crypto_aead_xchacha20poly1305_ietf_encrypt(
                            base + SecretBox.nonceByteCount, &written,
                            m, UInt64(plaintext.count), ad, UInt64(additionalData.count),
                            nil, base, k)
                    }
                }
            }
        }
        guard status == 0, written == UInt64(plaintext.count + SecretBox.tagByteCount) else {
            throw .operationFailed("crypto_aead_xchacha20poly1305_ietf_encrypt")
        }
        return out
    }

    /// Throws `authenticationFailed` if anything was altered (or the key differs),
    /// `invalidLength` if `sealed` is too short to hold a nonce and tag.
    public func open(_ sealed: [UInt8], additionalData: [UInt8] = []) throws(SodiumError) -> [UInt8] {
        try SodiumRuntime.ensure()
        guard sealed.count >= SecretBox.overhead else {
            throw .invalidLength(what: "sealed box", expected: SecretBox.overhead...Int.max, actual: sealed.count)
        }
        var out = [UInt8](repeating: 0, count: sealed.count - SecretBox.overhead)
        var written: UInt64 = 0
        let status = key.secret.withPointer { k in
            withBytePointer(sealed) { input in
                withMutableBytePointer(&out) { plain in
                    withBytePointer(additionalData) { ad in
                        crypto_aead_xchacha20poly1305_ietf_decrypt(
                            plain, &written, nil,
                            input + SecretBox.nonceByteCount, UInt64(sealed.count - SecretBox.nonceByteCount),
                            ad, UInt64(additionalData.count), input, k)
                    }
                }
            }
        }
        guard status == 0 else {
            Sodium.wipe(&out)
            throw .authenticationFailed
        }
        return out
    }
}
