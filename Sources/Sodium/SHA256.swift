import CSodium

/// SHA-256 (libsodium's crypto_hash_sha256): the digest OCI content addresses are named by.
public enum SHA256 {
    public static let byteCount = 32

    public static func hash(_ data: [UInt8]) -> [UInt8] {
        let hasher = Hasher()
        hasher.update(data)
        return hasher.finalize()
    }

    /// Lower-case hex, the form `sha256:<hex>` digests use.
    public static func hexDigest(_ data: [UInt8]) -> String {
        hex(hash(data))
    }

    public static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Incremental hashing for streams (blobs written to disk while they arrive). Not thread-safe.
    public final class Hasher {
        private let state: UnsafeMutableRawPointer
        private let stateSize: Int
        private var digest: [UInt8]?

        public init() {
            // The state is plain memory; sodium_init is not needed for SHA-256, but keep the module's invariant.
            _ = SodiumRuntime.ready
            stateSize = crypto_hash_sha256_statebytes()
            state = UnsafeMutableRawPointer.allocate(byteCount: stateSize, alignment: 64)
            state.initializeMemory(as: UInt8.self, repeating: 0, count: stateSize)
            _ = crypto_hash_sha256_init(state.assumingMemoryBound(to: crypto_hash_sha256_state.self))
        }

        deinit {
            state.deallocate()
        }

        /// Ignored after `finalize()`.
        public func update(_ data: [UInt8]) {
            data.withUnsafeBytes { update($0) }
        }

        /// Ignored after `finalize()`.
        public func update(_ buffer: UnsafeRawBufferPointer) {
            guard digest == nil, let base = buffer.baseAddress, buffer.count > 0 else { return }
            _ = crypto_hash_sha256_update(
                state.assumingMemoryBound(to: crypto_hash_sha256_state.self),
                base.assumingMemoryBound(to: UInt8.self), UInt64(buffer.count))
        }

        /// The digest; calling it again returns the same value.
        public func finalize() -> [UInt8] {
            if let digest { return digest }
            var out = [UInt8](repeating: 0, count: SHA256.byteCount)
            _ = withMutableBytePointer(&out) { o in
                crypto_hash_sha256_final(state.assumingMemoryBound(to: crypto_hash_sha256_state.self), o)
            }
            digest = out
            return out
        }
    }
}
