import CSodium

/// BLAKE2b (libsodium's generic hash), optionally keyed (a MAC).
public enum Blake2b {
    /// Allowed output sizes in bytes.
    public static let outputLengths = 16...64
    /// Allowed key sizes in bytes (when a key is given).
    public static let keyLengths = 16...64

    public static func hash(_ data: [UInt8], outputLength: Int = 32, key: [UInt8]? = nil) throws(SodiumError) -> [UInt8] {
        let hasher = try Hasher(outputLength: outputLength, key: key)
        hasher.update(data)
        return hasher.finalize()
    }

    /// Incremental hashing for data that arrives in pieces. Not thread-safe.
    public final class Hasher {
        private let state: UnsafeMutableRawPointer
        private let stateSize: Int
        public let outputLength: Int
        private var digest: [UInt8]?

        public init(outputLength: Int = 32, key: [UInt8]? = nil) throws(SodiumError) {
            try SodiumRuntime.ensure()
            try checkLength("BLAKE2b output", outputLength, Blake2b.outputLengths)
            if let key { try checkLength("BLAKE2b key", key.count, Blake2b.keyLengths) }
            stateSize = crypto_generichash_statebytes()
            // The C state is declared 64-byte aligned.
            state = UnsafeMutableRawPointer.allocate(byteCount: stateSize, alignment: 64)
            state.initializeMemory(as: UInt8.self, repeating: 0, count: stateSize)
            self.outputLength = outputLength
            let keyBytes = key ?? []
            let status = keyBytes.withUnsafeBufferPointer { k in
                crypto_generichash_init(OpaquePointer(state), k.baseAddress, k.count, outputLength)
            }
            guard status == 0 else { throw .operationFailed("crypto_generichash_init") }
        }

        deinit {
            sodium_memzero(state, stateSize)  // keyed state holds key material
            state.deallocate()
        }

        /// Ignored after `finalize()`.
        public func update(_ data: [UInt8]) {
            guard digest == nil else { return }
            _ = withBytePointer(data) { d in
                crypto_generichash_update(OpaquePointer(state), d, UInt64(data.count))
            }
        }

        /// The digest; calling it again returns the same value.
        public func finalize() -> [UInt8] {
            if let digest { return digest }
            var out = [UInt8](repeating: 0, count: outputLength)
            let length = outputLength
            _ = withMutableBytePointer(&out) { o in
                crypto_generichash_final(OpaquePointer(state), o, length)
            }
            digest = out
            return out
        }
    }
}
