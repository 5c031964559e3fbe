/// Little-endian binary writer shared by the store codec and the write-ahead log.
/// Fixed-width integers keep the formats trivially bounds-checkable.
struct StoreBytesWriter {
    private(set) var bytes: [UInt8] = []

    init(reservingCapacity capacity: Int = 0) {
        bytes.reserveCapacity(capacity)
    }

    mutating func writeUInt8(_ value: UInt8) {
        bytes.append(value)
    }

    mutating func writeUInt32(_ value: UInt32) {
        var v = value
        for _ in 0..<4 {
            bytes.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }

    mutating func writeUInt64(_ value: UInt64) {
        var v = value
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: v))
            v >>= 8
        }
    }

    /// Length-prefixed (UInt32) byte string.
    mutating func writeBlob(_ blob: [UInt8]) {
        writeUInt32(UInt32(truncatingIfNeeded: blob.count))
        bytes.append(contentsOf: blob)
    }

    mutating func writeRaw(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }
}

/// Bounds-checked reader: every read returns nil instead of trapping when the input is short,
/// so decoders of untrusted bytes can turn truncation into an error.
struct StoreBytesReader {
    let bytes: [UInt8]
    private(set) var offset: Int

    init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }
    var isAtEnd: Bool { offset >= bytes.count }

    mutating func readUInt8() -> UInt8? {
        guard remaining >= 1 else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func readUInt32() -> UInt32? {
        guard remaining >= 4 else { return nil }
        var v: UInt32 = 0
        for i in 0..<4 {
            v |= UInt32(bytes[offset + i]) << (8 * UInt32(i))
        }
        offset += 4
        return v
    }

    mutating func readUInt64() -> UInt64? {
        guard remaining >= 8 else { return nil }
        var v: UInt64 = 0
        for i in 0..<8 {
            v |= UInt64(bytes[offset + i]) << (8 * UInt64(i))
        }
        offset += 8
        return v
    }

    mutating func readRaw(count: Int) -> [UInt8]? {
        guard count >= 0, remaining >= count else { return nil }
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func readBlob() -> [UInt8]? {
        let start = offset
        guard let length = readUInt32(), let blob = readRaw(count: Int(length)) else {
            offset = start
            return nil
        }
        return blob
    }

    mutating func readRest() -> [UInt8] {
        defer { offset = bytes.count }
        return Array(bytes[offset...])
    }
}

extension Array where Element == UInt8 {
    /// Compares as unsigned byte strings, the order of the store's key index.
    @inlinable
    static func storeKeyLess(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.lexicographicallyPrecedes(b)
    }
}
