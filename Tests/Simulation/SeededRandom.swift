/// Reproducible pseudo-random generator: xoshiro256** seeded through SplitMix64.
///
/// Every draw is defined here bit for bit (no stdlib sampling algorithms), so a seed
/// produces the same stream on every platform and Swift version.
public struct SeededRandom: RandomNumberGenerator, Sendable, Hashable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    public init(seed: UInt64) {
        var sm = seed
        s0 = SeededRandom.splitMix(&sm)
        s1 = SeededRandom.splitMix(&sm)
        s2 = SeededRandom.splitMix(&sm)
        s3 = SeededRandom.splitMix(&sm)
        // xoshiro must not start from the all-zero state; SplitMix64 cannot produce
        // four zeros in a row, but keep the guard cheap and explicit.
        if s0 | s1 | s2 | s3 == 0 { s0 = 0x9E37_79B9_7F4A_7C15 }
    }

    private static func splitMix(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 {
        (x << k) | (x >> (64 &- k))
    }

    public mutating func next() -> UInt64 {
        let result = SeededRandom.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = SeededRandom.rotl(s3, 45)
        return result
    }

    /// An independent generator derived from this one (e.g. one stream per node),
    /// so adding draws in one stream does not shift another.
    public mutating func split() -> SeededRandom {
        SeededRandom(seed: next())
    }

    /// Uniform in 0..<bound (Lemire's multiply-shift with rejection; unbiased).
    public mutating func uniform(below bound: UInt64) -> UInt64 {
        // justified: an empty range is a bug in the calling test, as with Int.random(in:)
        precondition(bound > 0, "uniform(below:) needs a positive bound")
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold {
                m = next().multipliedFullWidth(by: bound)
            }
        }
        return m.high
    }

    /// Uniform double in [0, 1) with 53 bits of precision.
    public mutating func unitDouble() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// True with probability `p` (p <= 0 never, p >= 1 always, without consuming a draw).
    public mutating func chance(_ p: Double) -> Bool {
        if p <= 0 { return false }
        if p >= 1 { return true }
        return unitDouble() < p
    }

    public mutating func int(in range: Range<Int>) -> Int {
        // justified: an empty range is a bug in the calling test, as with Int.random(in:)
        precondition(!range.isEmpty, "int(in:) needs a non-empty range")
        let width = UInt64(bitPattern: Int64(range.upperBound &- range.lowerBound))
        return range.lowerBound &+ Int(truncatingIfNeeded: uniform(below: width))
    }

    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let width = UInt64(bitPattern: Int64(range.upperBound &- range.lowerBound)) &+ 1
        if width == 0 { return Int(truncatingIfNeeded: next()) }  // the full Int range
        return range.lowerBound &+ Int(truncatingIfNeeded: uniform(below: width))
    }

    public mutating func uint64(in range: ClosedRange<UInt64>) -> UInt64 {
        let width = range.upperBound &- range.lowerBound &+ 1
        if width == 0 { return next() }
        return range.lowerBound &+ uniform(below: width)
    }

    public mutating func double(in range: Range<Double>) -> Double {
        range.lowerBound + unitDouble() * (range.upperBound - range.lowerBound)
    }

    /// Uniform duration in the range, at nanosecond resolution.
    public mutating func duration(in range: ClosedRange<Duration>) -> Duration {
        let lo = range.lowerBound.nanosecondsClamped
        let hi = range.upperBound.nanosecondsClamped
        if lo >= hi { return range.lowerBound }
        return .nanoseconds(lo + Int64(uniform(below: UInt64(hi - lo) + 1)))
    }

    public mutating func element<C: Collection>(of collection: C) -> C.Element? {
        if collection.isEmpty { return nil }
        let offset = int(in: 0..<collection.count)
        return collection[collection.index(collection.startIndex, offsetBy: offset)]
    }

    /// Fisher–Yates with our own draws (stdlib shuffle's algorithm is not guaranteed stable).
    public mutating func shuffle<T>(_ array: inout [T]) {
        if array.count < 2 { return }
        for i in stride(from: array.count - 1, to: 0, by: -1) {
            let j = Int(uniform(below: UInt64(i + 1)))
            array.swapAt(i, j)
        }
    }

    public mutating func shuffled<T>(_ array: [T]) -> [T] {
        var copy = array
        shuffle(&copy)
        return copy
    }

    public mutating func bytes(count: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            var word = next()
            for _ in 0..<min(8, count - out.count) {
                out.append(UInt8(truncatingIfNeeded: word))
                word >>= 8
            }
        }
        return out
    }
}

extension Duration {
    /// Whole nanoseconds, saturating at Int64 bounds (about ±292 years).
    public var nanosecondsClamped: Int64 {
        let (seconds, attoseconds) = components
        let (ns, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (sum, overflow2) = ns.addingReportingOverflow(attoseconds / 1_000_000_000)
        if overflow2 { return seconds < 0 ? .min : .max }
        return sum
    }
}
