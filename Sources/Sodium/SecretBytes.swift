import CSodium

/// Secret material in memory we own, wiped with sodium_memzero when the last
/// reference goes away. Immutable after init.
final class SecretBytes: @unchecked Sendable {  // justified: the buffer is written only in init, then read-only
    private let base: UnsafeMutablePointer<UInt8>
    let count: Int

    init(count: Int, fill: (UnsafeMutablePointer<UInt8>) -> Void) {
        // Never zero bytes, so `base` is always a valid pointer for libsodium.
        base = UnsafeMutablePointer<UInt8>.allocate(capacity: max(count, 1))
        base.initialize(repeating: 0, count: max(count, 1))
        self.count = count
        fill(base)
    }

    convenience init(copying bytes: [UInt8]) {
        self.init(count: bytes.count) { target in
            bytes.withUnsafeBufferPointer { source in
                if let from = source.baseAddress { target.update(from: from, count: source.count) }
            }
        }
    }

    deinit {
        sodium_memzero(base, max(count, 1))
        base.deallocate()
    }

    func withPointer<R>(_ body: (UnsafePointer<UInt8>) throws -> R) rethrows -> R {
        try body(UnsafePointer(base))
    }

    func equals(_ other: SecretBytes) -> Bool {
        count == other.count && sodium_memcmp(base, other.base, count) == 0
    }

    /// A copy for export (the caller owns wiping it).
    var bytes: [UInt8] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
