/// Reproducibility fingerprint: a rolling FNV-1a hash over every event, plus an
/// optional human-readable log (off by default: formatting strings is costly at scale).
public struct Trace: Sendable, Equatable {
    public private(set) var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    public private(set) var eventCount: Int = 0
    /// Readable lines, only filled when `keepsLog` is true.
    public private(set) var lines: [String] = []
    public var keepsLog: Bool

    public init(keepsLog: Bool = false) {
        self.keepsLog = keepsLog
    }

    @inline(__always)
    private mutating func mix(_ value: UInt64) {
        var v = value
        for _ in 0..<8 {
            hash ^= v & 0xFF
            hash = hash &* 0x0000_0100_0000_01B3
            v >>= 8
        }
    }

    /// Records one event made of a kind code and up to four integers.
    public mutating func record(
        _ kind: UInt8, _ a: Int64 = 0, _ b: Int64 = 0, _ c: Int64 = 0, _ d: Int64 = 0,
        line: @autoclosure () -> String = ""
    ) {
        eventCount += 1
        mix(UInt64(kind))
        mix(UInt64(bitPattern: a))
        mix(UInt64(bitPattern: b))
        mix(UInt64(bitPattern: c))
        mix(UInt64(bitPattern: d))
        if keepsLog { lines.append(line()) }
    }

    /// Records a test-defined event, e.g. "node 2 became leader term 3".
    public mutating func record(_ text: String) {
        eventCount += 1
        mix(0xFF)
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01B3
        }
        if keepsLog { lines.append(text) }
    }
}
