// Raft RPCs as one message type; every message carries the sender's term.

public struct RaftMessage: Sendable, Equatable {
    public var from: UInt64
    public var to: UInt64
    public var term: UInt64
    public var body: Body

    public init(from: UInt64, to: UInt64, term: UInt64, body: Body) {
        self.from = from
        self.to = to
        self.term = term
        self.body = body
    }

    public enum Body: Sendable, Equatable {
        /// Sent with term = candidate's term + 1 without the sender bumping its own term.
        case preVote(lastIndex: UInt64, lastTerm: UInt64)
        case preVoteResponse(granted: Bool)
        /// `leadershipTransfer` lets the vote through a follower's leader lease.
        case vote(lastIndex: UInt64, lastTerm: UInt64, leadershipTransfer: Bool)
        case voteResponse(granted: Bool)
        case append(prevIndex: UInt64, prevTerm: UInt64, commit: UInt64, entries: [RaftEntry])
        /// On success `index` is the follower's match; on reject it is the rejected prevIndex and
        /// (hintIndex, hintTerm) let the leader skip a whole conflicting term at once.
        case appendResponse(success: Bool, index: UInt64, hintIndex: UInt64, hintTerm: UInt64)
        /// `readSequence` identifies the newest ReadIndex round the leader wants confirmed.
        case heartbeat(commit: UInt64, readSequence: UInt64)
        case heartbeatResponse(readSequence: UInt64)
        case installSnapshot(RaftSnapshot)
        /// Transfer target: campaign now, skipping pre-vote.
        case timeoutNow
        /// A follower asking its leader for a read index on behalf of a local client.
        case readIndex(context: [UInt8])
        case readIndexResponse(index: UInt64, context: [UInt8])
    }
}

extension RaftMessage: CustomStringConvertible {
    public var description: String {
        let b: String
        switch body {
        case .preVote(let i, let t): b = "preVote(\(i),\(t))"
        case .preVoteResponse(let g): b = "preVoteResp(\(g))"
        case .vote(let i, let t, let x): b = "vote(\(i),\(t)\(x ? ",transfer" : ""))"
        case .voteResponse(let g): b = "voteResp(\(g))"
        case .append(let pi, let pt, let c, let es): b = "append(prev \(pi)/\(pt), commit \(c), \(es.count) entries)"
        case .appendResponse(let s, let i, let hi, let ht): b = "appendResp(\(s), \(i), hint \(hi)/\(ht))"
        case .heartbeat(let c, let r): b = "heartbeat(commit \(c), read \(r))"
        case .heartbeatResponse(let r): b = "heartbeatResp(read \(r))"
        case .installSnapshot(let s): b = "snapshot(\(s.index)/\(s.term))"
        case .timeoutNow: b = "timeoutNow"
        case .readIndex: b = "readIndex"
        case .readIndexResponse(let i, _): b = "readIndexResp(\(i))"
        }
        return "\(from)->\(to) t\(term) \(b)"
    }
}
