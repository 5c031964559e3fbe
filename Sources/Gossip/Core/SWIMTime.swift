/// A point in time as seen by the SWIM core. The shell owns the clock and passes
/// the current time in; the core never reads a clock itself.
public struct SWIMTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) {
        self.nanoseconds = nanoseconds
    }

    public static let zero = SWIMTime(nanoseconds: 0)

    public static func < (lhs: SWIMTime, rhs: SWIMTime) -> Bool {
        lhs.nanoseconds < rhs.nanoseconds
    }

    public static func + (lhs: SWIMTime, rhs: Duration) -> SWIMTime {
        SWIMTime(nanoseconds: lhs.nanoseconds &+ rhs.swimNanoseconds)
    }

    public static func - (lhs: SWIMTime, rhs: SWIMTime) -> Duration {
        .nanoseconds(lhs.nanoseconds &- rhs.nanoseconds)
    }

    public var description: String {
        "\(Double(nanoseconds) / 1e9)s"
    }
}

extension Duration {
    /// Whole nanoseconds (sub-nanosecond parts are dropped).
    public var swimNanoseconds: Int64 {
        let parts = components
        return parts.seconds &* 1_000_000_000 &+ parts.attoseconds / 1_000_000_000
    }

    /// Seconds as a floating point number, for reporting.
    public var swimSeconds: Double {
        Double(swimNanoseconds) / 1e9
    }
}
