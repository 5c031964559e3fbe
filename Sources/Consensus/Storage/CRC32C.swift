/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of WAL records and
/// snapshot files. Table-driven, one byte at a time; the check value of "123456789" is 0xE3069283.
public enum CRC32C {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 {
            c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1
        }
        return c
    }

    /// Checksum of `bytes`, continuing from a previous result when `seed` is given.
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes, seed: UInt32 = 0) -> UInt32 where Bytes.Element == UInt8 {
        var crc = ~seed
        table.withUnsafeBufferPointer { t in
            for byte in bytes {
                crc = t[Int((crc ^ UInt32(byte)) & 0xff)] ^ (crc >> 8)
            }
        }
        return ~crc
    }

    static func checksum(_ bytes: [UInt8], range: Range<Int>, seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        table.withUnsafeBufferPointer { t in
            bytes.withUnsafeBufferPointer { b in
                for i in range {
                    crc = t[Int((crc ^ UInt32(b[i])) & 0xff)] ^ (crc >> 8)
                }
            }
        }
        return ~crc
    }
}
