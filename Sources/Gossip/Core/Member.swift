/// Liveness of a member as seen locally. The order is the precedence order used
/// when two views disagree at the same incarnation.
public enum MemberStatus: UInt8, Sendable, Hashable, Comparable, CustomStringConvertible {
    case alive = 0
    case suspect = 1
    case dead = 2
    /// Left gracefully; never reported as a failure.
    case left = 3

    public static func < (lhs: MemberStatus, rhs: MemberStatus) -> Bool {
        lhs.rawValue < rhs.rawValue
    }

    /// Alive or suspect: still counted in the cluster size and still probed.
    public var isLive: Bool { self == .alive || self == .suspect }

    public var description: String {
        switch self {
        case .alive: "alive"
        case .suspect: "suspect"
        case .dead: "dead"
        case .left: "left"
        }
    }
}

/// Small versioned record a member publishes about itself (name, API and Raft
/// addresses, labels, capacity, version...). Opaque to the core; newer version wins.
public struct MemberMetadata: Sendable, Hashable {
    public var version: UInt64
    public var entries: [String: String]

    public init(version: UInt64 = 0, entries: [String: String] = [:]) {
        self.version = version
        self.entries = entries
    }
}

/// What one member knows about another; also the unit of the full-state exchange.
public struct MemberState: Sendable, Hashable {
    /// Opaque address ("host:port") chosen by the shell; the member's identity.
    public var address: String
    public var incarnation: UInt64
    public var status: MemberStatus
    public var metadata: MemberMetadata

    public init(address: String, incarnation: UInt64, status: MemberStatus, metadata: MemberMetadata = MemberMetadata()) {
        self.address = address
        self.incarnation = incarnation
        self.status = status
        self.metadata = metadata
    }
}

/// Membership change reported to the shell.
public enum MembershipEvent: Sendable, Hashable {
    /// A member we did not know about.
    case joined(MemberState)
    /// A suspect or dead member is alive again (refuted or restarted).
    case alive(MemberState)
    case suspect(MemberState)
    case dead(MemberState)
    case left(MemberState)
    case metadataChanged(MemberState)
    /// A tombstone was forgotten.
    case reaped(address: String)

    public var address: String {
        switch self {
        case .joined(let s), .alive(let s), .suspect(let s), .dead(let s), .left(let s), .metadataChanged(let s):
            s.address
        case .reaped(let address):
            address
        }
    }
}
