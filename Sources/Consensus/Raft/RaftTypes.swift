// Value types shared by the Raft core, its codec and the shell.
// Node id 0 is reserved to mean "none" (no leader, no vote).

/// What an entry means to the state machine; only `.normal` carries application data.
public enum RaftEntryKind: UInt8, Sendable, Equatable {
    case normal = 0
    /// `data` is an encoded `RaftMembership`: the whole configuration in force from this index on.
    case configChange = 1
    /// Appended by a new leader so it can commit entries of earlier terms (Raft §5.4.2).
    case noop = 2
}

public struct RaftEntry: Sendable, Equatable {
    public var term: UInt64
    public var index: UInt64
    public var kind: RaftEntryKind
    public var data: [UInt8]

    public init(term: UInt64, index: UInt64, kind: RaftEntryKind = .normal, data: [UInt8] = []) {
        self.term = term
        self.index = index
        self.kind = kind
        self.data = data
    }
}

/// State that must be durable before any message of the same `RaftReady` is sent.
public struct RaftHardState: Sendable, Equatable {
    public var term: UInt64
    public var votedFor: UInt64
    public var commit: UInt64

    public init(term: UInt64 = 0, votedFor: UInt64 = 0, commit: UInt64 = 0) {
        self.term = term
        self.votedFor = votedFor
        self.commit = commit
    }
}

/// Voters decide elections and commits; learners only receive the log.
/// Kept as sorted arrays so iteration order (and thus message order) is deterministic.
public struct RaftMembership: Sendable, Equatable {
    public private(set) var voters: [UInt64]
    public private(set) var learners: [UInt64]

    public init(voters: [UInt64], learners: [UInt64] = []) {
        let v = Set(voters.filter { $0 != 0 })
        self.voters = v.sorted()
        self.learners = Set(learners.filter { $0 != 0 && !v.contains($0) }).sorted()
    }

    public static let empty = RaftMembership(voters: [])

    public func isVoter(_ id: UInt64) -> Bool { voters.contains(id) }
    public func isLearner(_ id: UInt64) -> Bool { learners.contains(id) }
    public func contains(_ id: UInt64) -> Bool { isVoter(id) || isLearner(id) }
    /// Every member, voters first, each group sorted.
    public var members: [UInt64] { voters + learners }
    public var quorum: Int { voters.count / 2 + 1 }

    /// What changed since `earlier`, in few words ("learner 7 added; 5 promoted; 3 removed"): a 50-peer cluster
    /// forms through about 100 changes, and a log line per change that listed every member ran to kilobytes.
    public func changes(since earlier: RaftMembership) -> String {
        var parts: [String] = []
        for id in learners where !earlier.contains(id) { parts.append("learner \(id) added") }
        for id in voters where !earlier.isVoter(id) { parts.append(earlier.isLearner(id) ? "\(id) promoted" : "voter \(id) added") }
        for id in earlier.voters where isLearner(id) { parts.append("\(id) demoted") }
        for id in earlier.members where !contains(id) { parts.append("\(id) removed") }
        return parts.isEmpty ? "none" : parts.joined(separator: "; ")
    }

    /// The membership after `change`, or nil if the change makes no sense here.
    public func applying(_ change: RaftConfigChange) -> RaftMembership? {
        switch change {
        case .addLearner(let id):
            guard id != 0, !contains(id) else { return nil }
            return RaftMembership(voters: voters, learners: learners + [id])
        case .promote(let id):
            guard isLearner(id) else { return nil }
            return RaftMembership(voters: voters + [id], learners: learners.filter { $0 != id })
        case .remove(let id):
            guard contains(id) else { return nil }
            let nv = voters.filter { $0 != id }
            // A cluster with no voter could never elect a leader again.
            guard !nv.isEmpty else { return nil }
            return RaftMembership(voters: nv, learners: learners.filter { $0 != id })
        }
    }
}

/// Single-server membership changes; each is one log entry, one at a time.
public enum RaftConfigChange: Sendable, Equatable {
    case addLearner(UInt64)
    case promote(UInt64)
    case remove(UInt64)
}

/// The application's state at `index`, plus the membership in force there.
public struct RaftSnapshot: Sendable, Equatable {
    public var index: UInt64
    public var term: UInt64
    public var membership: RaftMembership
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, membership: RaftMembership, data: [UInt8]) {
        self.index = index
        self.term = term
        self.membership = membership
        self.data = data
    }
}

public enum RaftRole: UInt8, Sendable, Equatable {
    case follower, preCandidate, candidate, leader
}

/// Volatile state the shell may want for routing (leader hint) and metrics; never persisted.
public struct RaftSoftState: Sendable, Equatable {
    public var leader: UInt64
    public var role: RaftRole

    public init(leader: UInt64, role: RaftRole) {
        self.leader = leader
        self.role = role
    }
}

/// A linearizable read may be served for `context` now: the local state machine has applied `index`.
public struct RaftReadState: Sendable, Equatable {
    public var index: UInt64
    public var context: [UInt8]

    public init(index: UInt64, context: [UInt8]) {
        self.index = index
        self.context = context
    }
}

public struct RaftConfiguration: Sendable, Equatable {
    public var id: UInt64
    /// Base election timeout in ticks; the effective timeout is drawn from [base, 2*base).
    public var electionTicks: Int
    public var heartbeatTicks: Int
    /// Soft cap on entry payload bytes per append message (always at least one entry).
    public var maxBytesPerAppend: Int
    /// Append messages in flight per follower in replicate mode: bounds the leader's outbound queue.
    public var maxInflightAppends: Int
    public var preVote: Bool
    public var checkQuorum: Bool
    /// A learner that has the whole log gets every this-many-th heartbeat only: it neither votes nor
    /// counts for check-quorum or ReadIndex, and it needs no more than to keep knowing the leader. Learners
    /// that lag get every heartbeat (its answer is what resumes their replication).
    public var learnerHeartbeatRounds: Int

    public init(id: UInt64, electionTicks: Int = 10, heartbeatTicks: Int = 1,
                maxBytesPerAppend: Int = 64 * 1024, maxInflightAppends: Int = 64,
                preVote: Bool = true, checkQuorum: Bool = true, learnerHeartbeatRounds: Int = 1) {
        self.learnerHeartbeatRounds = max(1, learnerHeartbeatRounds)
        self.id = id
        self.electionTicks = max(2, electionTicks)
        self.heartbeatTicks = max(1, min(heartbeatTicks, max(1, electionTicks - 1)))
        self.maxBytesPerAppend = max(1, maxBytesPerAppend)
        self.maxInflightAppends = max(1, maxInflightAppends)
        self.preVote = preVote
        self.checkQuorum = checkQuorum
    }
}

/// What a restarting node recovers from its durable storage.
public struct RaftPersistentState: Sendable, Equatable {
    public var hardState: RaftHardState
    public var snapshot: RaftSnapshot?
    /// Entries after the snapshot (or from index 1), contiguous.
    public var entries: [RaftEntry]

    public init(hardState: RaftHardState = RaftHardState(), snapshot: RaftSnapshot? = nil, entries: [RaftEntry] = []) {
        self.hardState = hardState
        self.snapshot = snapshot
        self.entries = entries
    }
}

public enum RaftError: Error, Sendable, Equatable {
    /// Only the leader accepts this; `leader` is the known leader or 0.
    case notLeader(leader: UInt64)
    case leadershipTransferInProgress
    /// A membership change is still uncommitted, or the leader has not committed in its term yet.
    case configChangePending
    case invalidConfigChange
    case snapshotOutOfDate
    case compactBeyondApplied
}
