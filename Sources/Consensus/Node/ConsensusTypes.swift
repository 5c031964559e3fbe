import Logging

/// What the consensus shell needs from a transport: fire-and-forget frames to a peer's address.
/// `RaftTransport` is the production one; tests wrap it to cut links.
public protocol ConsensusTransport: Sendable {
    func send(_ frame: [UInt8], to peer: UInt64, at address: PeerAddress)
    /// The peer left the configuration: its connection and queue may go.
    func removePeer(_ peer: UInt64)
}

extension RaftTransport: ConsensusTransport {}

public struct ConsensusSettings: Sendable {
    /// One Raft tick. Election and heartbeat timeouts are counted in ticks.
    public var tickInterval: Duration = .milliseconds(100)
    public var electionTicks = 10
    /// Heartbeats confirm the leader to its voters; commits travel with appends at once, so a heartbeat
    /// every other tick is plenty (the follower's election timeout is 10–20 ticks).
    public var heartbeatTicks = 2
    /// Caught-up learners hear only every this-many-th heartbeat (they neither vote nor confirm reads).
    public var learnerHeartbeatRounds = 5
    public var maxBytesPerAppend = 256 * 1024
    public var maxInflightAppends = 256
    /// How long a proposal, read or membership change may wait before it fails with `.timeout`.
    public var requestTimeout: Duration = .seconds(5)
    /// Applied entries between two snapshots of the store.
    public var snapshotThreshold: UInt64 = 10_000
    /// Revisions of watch history the store keeps.
    public var storeHistoryRevisions: UInt64 = 10_000
    public var walOptions = WALOptions()
    /// Frames larger than this (a big snapshot) travel in chunks of this size; stays well below the
    /// transport's frame limit.
    public var frameChunkBytes = 4 << 20
    /// Seeds the election-timeout jitter; nil draws a seed from the system generator.
    public var randomSeed: UInt64?

    public init() {}
}

public enum ConsensusError: Error, Sendable, Equatable, CustomStringConvertible {
    /// No leader has been known for longer than an election timeout (lost quorum or partitioned).
    case noLeader
    /// The request waited longer than the request timeout. For a write the outcome is unknown:
    /// it may still be applied later.
    case timeout
    /// The node is shutting down or stopped (possibly because its storage failed).
    case stopped
    /// Only the leader does this; `leader` is the known leader or 0.
    case notLeader(leader: UInt64)
    /// Another membership change is still uncommitted, or the new leader has not committed yet.
    case membershipChangePending
    /// The membership change makes no sense here (unknown member, already present, last voter).
    case invalidMembershipChange
    /// A leadership transfer is under way; retry shortly.
    case leadershipTransferInProgress
    /// The leader changed before the change committed; it did not take effect.
    case dropped
    /// The leader lost its leadership before this write committed. As with `.timeout` the outcome is
    /// unknown (the next leader may still commit it), but the caller learns it at once instead of waiting.
    case leaderChanged
    /// The write-ahead log failed: the node stopped rather than make promises it cannot keep.
    case storage(String)

    public var description: String {
        switch self {
        case .noLeader: "no Raft leader is known (the cluster has no quorum or this peer is cut off); retry later"
        case .timeout: "timed out waiting for the cluster; the outcome of a write is unknown"
        case .stopped: "the consensus node is stopped"
        case .notLeader(let leader): leader == 0 ? "this peer is not the Raft leader and knows of none" : "this peer is not the Raft leader; the leader is \(leader)"
        case .membershipChangePending: "another membership change is still in progress; retry when it has committed"
        case .invalidMembershipChange: "the membership change does not apply to the current membership"
        case .leadershipTransferInProgress: "a leadership transfer is in progress; retry shortly"
        case .dropped: "the change was lost in a leader change and did not take effect; retry"
        case .leaderChanged: "the Raft leader changed before the write committed; its outcome is unknown (it may still be applied)"
        case .storage(let why): "the write-ahead log failed, so this peer stopped: \(why)"
        }
    }
}

public enum ReadConsistency: Sendable {
    /// Confirmed with the leader (ReadIndex): sees every write acknowledged before the read began.
    case linearizable
    /// The local replica as it is: no round trip, possibly behind.
    case stale
}

public enum ConsensusRole: String, Sendable, Codable {
    case follower, preCandidate, candidate, leader

    init(_ role: RaftRole) {
        switch role {
        case .follower: self = .follower
        case .preCandidate: self = .preCandidate
        case .candidate: self = .candidate
        case .leader: self = .leader
        }
    }
}

/// The node as `GET /v1/raft` shows it.
public struct ConsensusStatus: Sendable, Codable, Equatable {
    public var id: UInt64
    public var role: ConsensusRole
    public var term: UInt64
    /// 0 when no leader is known.
    public var leader: UInt64
    public var commitIndex: UInt64
    public var appliedIndex: UInt64
    public var voters: [UInt64]
    public var learners: [UInt64]
}

/// A small seeded generator (SplitMix64) for the core's election jitter.
struct ConsensusRandom: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
