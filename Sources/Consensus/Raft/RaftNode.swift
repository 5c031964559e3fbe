// The Raft core as a pure state machine: inputs are ticks, messages and requests; outputs are
// collected and handed to the shell through `ready()` (see RaftReady for the persistence rule).
// No clocks, sockets or global randomness: time is `tick(using:)`, randomness is the caller's RNG.

public struct RaftNode: Sendable {
    public let configuration: RaftConfiguration
    public var id: UInt64 { configuration.id }

    public private(set) var term: UInt64
    public private(set) var votedFor: UInt64
    public private(set) var role: RaftRole = .follower
    /// The leader of `term` as far as this node knows, or 0.
    public private(set) var leader: UInt64 = 0

    var log: RaftLog
    /// Membership in force at the snapshot, and every config entry after it (config applies once appended).
    var snapshotMembership: RaftMembership
    var membershipChanges: [MembershipChange] = []
    var latestSnapshot: RaftSnapshot?

    var electionElapsed = 0
    var heartbeatElapsed = 0
    var heartbeatRounds = 0
    /// 0 means "draw a fresh one at the next tick" (the RNG only enters through `tick`).
    var randomizedElectionTimeout = 0
    var votes: [UInt64: Bool] = [:]

    // Leader state.
    var progress: [UInt64: RaftProgress] = [:]
    var transferTarget: UInt64 = 0
    var termStartIndex: UInt64 = 0
    var broadcastPending = false

    // ReadIndex state.
    var readSequence: UInt64 = 0
    /// Reads arrived since the last `ready()`: one heartbeat round at `ready()` confirms them all.
    var readBroadcastPending = false
    var pendingReads: [PendingRead] = []
    var readsAwaitingCommit: [PendingRead] = []
    var confirmedReads: [RaftReadState] = []

    // Hand-off state.
    var outbox: [RaftMessage] = []
    var receivedSnapshot: RaftSnapshot?
    var reportedHard: RaftHardState
    var reportedSoft = RaftSoftState(leader: 0, role: .follower)
    var handedOut: HandOut?

    struct MembershipChange: Sendable {
        var index: UInt64
        var membership: RaftMembership
    }

    struct PendingRead: Sendable {
        var sequence: UInt64
        var index: UInt64
        var context: [UInt8]
        var origin: UInt64
    }

    struct HandOut: Sendable {
        var lastIndex: UInt64
        var lastTerm: UInt64
        var snapshotIndex: UInt64?
        var applyThrough: UInt64
    }

    /// - Parameters:
    ///   - bootstrap: the initial membership of a new cluster, used when storage holds no snapshot.
    ///     A node joining an existing cluster passes `.empty` and learns membership from the leader.
    ///   - state: what the node recovered from its storage (empty for a fresh node).
    public init(configuration: RaftConfiguration, bootstrap: RaftMembership, restoring state: RaftPersistentState = RaftPersistentState()) {
        self.configuration = configuration
        let snap = state.snapshot
        log = RaftLog(snapshotIndex: snap?.index ?? 0, snapshotTerm: snap?.term ?? 0,
                      entries: state.entries, committed: state.hardState.commit)
        snapshotMembership = snap?.membership ?? bootstrap
        latestSnapshot = snap
        term = state.hardState.term
        votedFor = state.hardState.votedFor
        reportedHard = RaftHardState(term: term, votedFor: votedFor, commit: log.committed)
        for e in log.entries where e.kind == .configChange {
            if let m = try? RaftMembership(decoding: e.data) {
                membershipChanges.append(MembershipChange(index: e.index, membership: m))
            }
        }
    }

    // MARK: - Read-only views

    public var membership: RaftMembership { membershipChanges.last?.membership ?? snapshotMembership }
    public var commitIndex: UInt64 { log.committed }
    public var appliedIndex: UInt64 { log.applied }
    public var lastIndex: UInt64 { log.lastIndex }
    public var lastTerm: UInt64 { log.lastTerm }
    public var snapshotIndex: UInt64 { log.snapshotIndex }
    public var persistedIndex: UInt64 { log.persisted }
    public var softState: RaftSoftState { RaftSoftState(leader: leader, role: role) }
    public var hardState: RaftHardState { RaftHardState(term: term, votedFor: votedFor, commit: log.committed) }
    public var leadershipTransferTarget: UInt64 { transferTarget }
    public func entry(at index: UInt64) -> RaftEntry? { log.entry(at: index) }
    public func term(at index: UInt64) -> UInt64? { log.term(at: index) }
    /// The leader's replication view of a follower (nil elsewhere).
    public func matchIndex(of peer: UInt64) -> UInt64? { progress[peer]?.match }

    public func membership(at index: UInt64) -> RaftMembership {
        membershipChanges.last(where: { $0.index <= index })?.membership ?? snapshotMembership
    }

    var isPromotable: Bool {
        if membership.isVoter(id) { return true }
        // Removed by a change that is not committed yet: we may be the only one able to commit it
        // (our log may be the most up to date), so we still campaign, counting the new voters only.
        guard let last = membershipChanges.last, last.index > log.committed else { return false }
        return membership(at: log.committed).isVoter(id)
    }
    var committedInCurrentTerm: Bool { log.term(at: log.committed) == term }
    var inLease: Bool { configuration.checkQuorum && leader != 0 && electionElapsed < configuration.electionTicks }

    /// How many ticks from now the next one that can do anything but count is (a campaign, a heartbeat, a
    /// quorum check): a shell with no timers of its own may sleep until then and deliver the ticks at once.
    /// `Int.max` when no tick can act (a learner).
    public var ticksUntilDue: Int {
        guard randomizedElectionTimeout != 0 else { return 1 }
        if role == .leader {
            if progress.values.contains(where: { $0.state == .snapshot }) { return 1 }
            return max(1, min(configuration.heartbeatTicks - heartbeatElapsed, configuration.electionTicks - electionElapsed))
        }
        guard isPromotable else { return .max }
        return max(1, randomizedElectionTimeout - electionElapsed)
    }

    // MARK: - Inputs

    /// One logical clock tick. The RNG draws the randomized election timeout.
    public mutating func tick<R: RandomNumberGenerator>(using rng: inout R) {
        let base = configuration.electionTicks
        if randomizedElectionTimeout == 0 {
            randomizedElectionTimeout = base + Int.random(in: 0..<base, using: &rng)
        }
        if role == .leader {
            tickLeader()
            return
        }
        electionElapsed += 1
        if isPromotable && electionElapsed >= randomizedElectionTimeout {
            campaign(preVote: configuration.preVote, transfer: false)
        }
    }

    /// Appends `data` as a normal entry; returns its index. Only the leader accepts proposals.
    @discardableResult
    public mutating func propose(_ data: [UInt8]) throws(RaftError) -> UInt64 {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard transferTarget == 0 else { throw .leadershipTransferInProgress }
        let index = appendLocal(kind: .normal, data: data)
        broadcastPending = true
        return index
    }

    /// Proposes one membership change. Rejected while another is uncommitted, and until the leader
    /// has committed an entry of its own term (otherwise two changes could overlap across leaders).
    @discardableResult
    public mutating func proposeConfigChange(_ change: RaftConfigChange) throws(RaftError) -> UInt64 {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard transferTarget == 0 else { throw .leadershipTransferInProgress }
        guard committedInCurrentTerm, (membershipChanges.last?.index ?? 0) <= log.committed else {
            throw .configChangePending
        }
        guard let next = membership.applying(change) else { throw .invalidConfigChange }
        let index = appendLocal(kind: .configChange, data: next.encode())
        broadcastPending = true
        return index
    }

    /// Hands leadership to `target` once it has the whole log; proposals are refused meanwhile.
    /// Aborted if it has not happened within an election timeout.
    public mutating func transferLeadership(to target: UInt64) throws(RaftError) {
        guard role == .leader else { throw .notLeader(leader: leader) }
        guard target != id, membership.isVoter(target), let pr = progress[target] else { throw .invalidConfigChange }
        if transferTarget == target { return }
        transferTarget = target
        electionElapsed = 0
        if pr.match == log.lastIndex {
            send(to: target, .timeoutNow)
        } else {
            _ = sendAppend(to: target, sendIfEmpty: true)
        }
    }

    /// Asks for a linearizable read. When confirmed and applied locally, a `RaftReadState` with this
    /// context appears in a later `ready()`. On a follower the request goes to the leader.
    /// Not delivered if leadership changes meanwhile: the caller times out and retries.
    public mutating func readIndex(context: [UInt8]) throws(RaftError) {
        if role == .leader {
            handleReadRequest(context: context, origin: id)
        } else if leader != 0 {
            send(to: leader, .readIndex(context: context))
        } else {
            throw .notLeader(leader: 0)
        }
    }

    /// The application took a snapshot of its state at `index` (≤ applied); the log before it is dropped.
    /// The shell persists the returned snapshot and may delete stored entries up to `index`.
    public mutating func compact(through index: UInt64, data: [UInt8]) throws(RaftError) -> RaftSnapshot {
        guard index <= log.applied else { throw .compactBeyondApplied }
        guard index > log.snapshotIndex, let t = log.term(at: index) else { throw .snapshotOutOfDate }
        let snap = RaftSnapshot(index: index, term: t, membership: membership(at: index), data: data)
        snapshotMembership = snap.membership
        membershipChanges.removeAll { $0.index <= index }
        log.compact(through: index)
        latestSnapshot = snap
        return snap
    }

    /// Feeds one message received from a peer.
    public mutating func step(_ m: RaftMessage) {
        guard m.to == id, m.from != id, m.from != 0 else { return }

        if m.term > term {
            switch m.body {
            case .preVote, .vote(_, _, false):
                // Leader lease: a follower that heard from its leader recently ignores campaigners,
                // so a node rejoining from a partition cannot depose a healthy leader.
                if inLease { return }
            default:
                break
            }
            switch m.body {
            case .preVote:
                break
            case .preVoteResponse(let granted) where granted:
                break
            case .append, .heartbeat, .installSnapshot:
                becomeFollower(term: m.term, leader: m.from)
            default:
                becomeFollower(term: m.term, leader: 0)
            }
        } else if m.term < term {
            switch m.body {
            case .append, .heartbeat:
                // Tell a stale leader about the newer term so it steps down (it may be cut off from
                // everyone else and, with pre-vote, nobody else will bump terms for it).
                send(to: m.from, .appendResponse(success: false, index: 0, hintIndex: 0, hintTerm: 0))
            case .preVote:
                send(to: m.from, .preVoteResponse(granted: false))
            default:
                break
            }
            return
        }

        switch m.body {
        case .preVote(let li, let lt):
            handleVoteRequest(m, lastIndex: li, lastTerm: lt, preVote: true)
        case .vote(let li, let lt, _):
            handleVoteRequest(m, lastIndex: li, lastTerm: lt, preVote: false)
        case .preVoteResponse(let granted):
            guard role == .preCandidate, m.term == term + 1 || (m.term == term && !granted) else { return }
            votes[m.from] = granted
            pollAfterResponse(preVote: true)
        case .voteResponse(let granted):
            guard role == .candidate, m.term == term else { return }
            votes[m.from] = granted
            pollAfterResponse(preVote: false)
        case .append(let pi, let pt, let commit, let entries):
            guard acceptLeader(m.from) else { return }
            handleAppend(from: m.from, prevIndex: pi, prevTerm: pt, commit: commit, entries: entries)
        case .heartbeat(let commit, let seq):
            guard acceptLeader(m.from) else { return }
            if commit <= log.lastIndex { commitTo(commit) }
            send(to: m.from, .heartbeatResponse(readSequence: seq))
        case .installSnapshot(let snap):
            guard acceptLeader(m.from) else { return }
            handleSnapshot(from: m.from, snap)
        case .appendResponse(let success, let index, let hintIndex, let hintTerm):
            guard role == .leader else { return }
            handleAppendResponse(from: m.from, success: success, index: index, hintIndex: hintIndex, hintTerm: hintTerm)
        case .heartbeatResponse(let seq):
            guard role == .leader else { return }
            handleHeartbeatResponse(from: m.from, readSequence: seq)
        case .timeoutNow:
            guard role != .leader, isPromotable else { return }
            campaign(preVote: false, transfer: true)
        case .readIndex(let context):
            guard role == .leader else { return }
            handleReadRequest(context: context, origin: m.from)
        case .readIndexResponse(let index, let context):
            guard role != .leader, m.from == leader else { return }
            confirmedReads.append(RaftReadState(index: index, context: context))
        }
    }

    // MARK: - Ready hand-off

    /// False while a `ready()` is outstanding: the shell hands it back with `advance()` first.
    public var hasReady: Bool {
        if handedOut != nil { return false }
        if broadcastPending || readBroadcastPending || !outbox.isEmpty || receivedSnapshot != nil || log.truncateFrom != nil { return true }
        if softState != reportedSoft || hardState != reportedHard { return true }
        if log.unstableFrom <= log.lastIndex { return true }
        let applyThrough = min(log.committed, log.lastIndex)
        if applyThrough > max(log.applied, log.snapshotIndex) { return true }
        let servable = max(log.applied, applyThrough)
        return confirmedReads.contains { $0.index <= servable }
    }

    /// Collects everything the shell must do now. Call `advance()` once it is done.
    public mutating func ready() -> RaftReady {
        if broadcastPending {
            broadcastPending = false
            broadcastAppend()
        }
        if readBroadcastPending {
            readBroadcastPending = false
            broadcastHeartbeat(votersOnly: true)
        }
        var rd = RaftReady()
        let soft = softState
        if soft != reportedSoft {
            rd.softState = soft
            reportedSoft = soft
        }
        let hard = hardState
        if hard != reportedHard {
            rd.hardState = hard
            reportedHard = hard
        }
        rd.snapshot = receivedSnapshot
        receivedSnapshot = nil
        rd.truncateFrom = log.truncateFrom
        log.truncateFrom = nil
        rd.entries = log.slice(from: log.unstableFrom, through: log.lastIndex)
        log.unstableFrom = log.lastIndex + 1
        rd.messages = outbox
        outbox = []
        let applyFrom = max(log.applied, log.snapshotIndex) + 1
        let applyThrough = min(log.committed, log.lastIndex)
        if applyThrough >= applyFrom {
            rd.committedEntries = log.slice(from: applyFrom, through: applyThrough)
        }
        let servable = max(log.applied, applyThrough, rd.snapshot?.index ?? 0)
        rd.readStates = confirmedReads.filter { $0.index <= servable }
        confirmedReads.removeAll { $0.index <= servable }
        handedOut = HandOut(lastIndex: rd.entries.last?.index ?? 0, lastTerm: rd.entries.last?.term ?? 0,
                            snapshotIndex: rd.snapshot?.index, applyThrough: max(applyThrough, log.applied))
        return rd
    }

    /// The shell persisted, sent and applied the last `ready()`.
    public mutating func advance() {
        guard let h = handedOut else { return }
        handedOut = nil
        if let s = h.snapshotIndex {
            log.persisted = max(log.persisted, s)
            log.applied = max(log.applied, s)
        }
        if h.lastIndex > 0, log.term(at: h.lastIndex) == h.lastTerm {
            log.persisted = max(log.persisted, h.lastIndex)
        }
        log.applied = max(log.applied, min(h.applyThrough, log.committed))
        if role == .leader, maybeCommit() {
            broadcastAppend()
        }
    }

    // MARK: - Role transitions

    mutating func resetElectionTimer() {
        electionElapsed = 0
        randomizedElectionTimeout = 0
    }

    mutating func becomeFollower(term newTerm: UInt64, leader newLeader: UInt64) {
        if newTerm > term {
            term = newTerm
            votedFor = 0
        }
        role = .follower
        leader = newLeader
        resetElectionTimer()
        resetLeaderState()
    }

    mutating func resetLeaderState() {
        progress = [:]
        transferTarget = 0
        broadcastPending = false
        readBroadcastPending = false
        pendingReads = []
        readsAwaitingCommit = []
        votes = [:]
    }

    mutating func campaign(preVote: Bool, transfer: Bool) {
        resetLeaderState()
        leader = 0
        resetElectionTimer()
        let voteTerm: UInt64
        if preVote {
            role = .preCandidate
            voteTerm = term + 1
        } else {
            role = .candidate
            term += 1
            votedFor = id
            voteTerm = term
        }
        votes = [id: true]
        if poll() == .won {
            if preVote { campaign(preVote: false, transfer: transfer) } else { becomeLeader() }
            return
        }
        for peer in membership.voters where peer != id {
            let body: RaftMessage.Body = preVote
                ? .preVote(lastIndex: log.lastIndex, lastTerm: log.lastTerm)
                : .vote(lastIndex: log.lastIndex, lastTerm: log.lastTerm, leadershipTransfer: transfer)
            outbox.append(RaftMessage(from: id, to: peer, term: voteTerm, body: body))
        }
    }

    enum PollResult { case won, lost, pending }

    func poll() -> PollResult {
        let voters = membership.voters
        let granted = voters.filter { votes[$0] == true }.count
        let rejected = voters.filter { votes[$0] == false }.count
        if granted >= membership.quorum { return .won }
        if rejected > voters.count - membership.quorum { return .lost }
        return .pending
    }

    mutating func pollAfterResponse(preVote: Bool) {
        switch poll() {
        case .won:
            if preVote { campaign(preVote: false, transfer: false) } else { becomeLeader() }
        case .lost:
            becomeFollower(term: term, leader: 0)
        case .pending:
            break
        }
    }

    mutating func becomeLeader() {
        resetLeaderState()
        role = .leader
        leader = id
        electionElapsed = 0
        heartbeatElapsed = 0
        for peer in membership.members where peer != id {
            var pr = RaftProgress(next: log.lastIndex + 1)
            pr.recentActive = true
            progress[peer] = pr
        }
        // Entries of earlier terms only commit together with one of ours (Figure 8), hence the no-op.
        termStartIndex = appendLocal(kind: .noop, data: [])
        broadcastAppend()
    }

    mutating func acceptLeader(_ from: UInt64) -> Bool {
        if role == .leader { return false }  // two leaders in one term cannot happen; drop defensively
        if role != .follower { becomeFollower(term: term, leader: from) }
        leader = from
        electionElapsed = 0
        return true
    }

    // MARK: - Voting

    mutating func handleVoteRequest(_ m: RaftMessage, lastIndex li: UInt64, lastTerm lt: UInt64, preVote: Bool) {
        let canVote = votedFor == m.from
            || (votedFor == 0 && leader == 0)
            || (preVote && m.term > term)
        if canVote && log.isUpToDate(lastIndex: li, lastTerm: lt) {
            // A granted pre-vote carries the candidate's future term so it is not taken as stale.
            outbox.append(RaftMessage(from: id, to: m.from, term: m.term,
                                      body: preVote ? .preVoteResponse(granted: true) : .voteResponse(granted: true)))
            if !preVote {
                votedFor = m.from
                electionElapsed = 0
            }
        } else {
            send(to: m.from, preVote ? .preVoteResponse(granted: false) : .voteResponse(granted: false))
        }
    }

    // MARK: - Follower side of replication

    mutating func handleAppend(from: UInt64, prevIndex: UInt64, prevTerm: UInt64, commit: UInt64, entries: [RaftEntry]) {
        var prevIndex = prevIndex
        var prevTerm = prevTerm
        var entries = entries
        if prevIndex < log.committed {
            // Committed entries match every leader's log, so only what lies beyond our commit matters.
            entries.removeAll { $0.index <= log.committed }
            prevIndex = log.committed
            prevTerm = log.term(at: log.committed) ?? 0
            if let first = entries.first, first.index != prevIndex + 1 { entries = [] }
        }
        guard log.matches(index: prevIndex, term: prevTerm) else {
            let hintIndex: UInt64
            let hintTerm: UInt64
            if prevIndex > log.lastIndex {
                hintIndex = log.lastIndex + 1
                hintTerm = 0
            } else {
                hintTerm = log.term(at: prevIndex) ?? 0
                hintIndex = max(log.firstIndex(ofTermAt: prevIndex), log.committed + 1)
            }
            send(to: from, .appendResponse(success: false, index: prevIndex, hintIndex: hintIndex, hintTerm: hintTerm))
            return
        }
        let lastNew = prevIndex + UInt64(entries.count)
        if let conflict = entries.first(where: { log.term(at: $0.index) != $0.term }) {
            if conflict.index <= log.lastIndex {
                guard conflict.index > log.committed else { return }  // would rewrite committed history
                log.truncate(from: conflict.index)
                membershipChanges.removeAll { $0.index >= conflict.index }
            }
            for e in entries where e.index >= conflict.index {
                appendReceived(e)
            }
        }
        commitTo(min(commit, lastNew))
        send(to: from, .appendResponse(success: true, index: lastNew, hintIndex: 0, hintTerm: 0))
    }

    mutating func handleSnapshot(from: UInt64, _ snap: RaftSnapshot) {
        if snap.index <= log.committed {
            send(to: from, .appendResponse(success: true, index: log.committed, hintIndex: 0, hintTerm: 0))
            return
        }
        if log.matches(index: snap.index, term: snap.term) {
            // We already hold that prefix; just learn that it is committed.
            commitTo(snap.index)
        } else {
            log.restore(index: snap.index, term: snap.term)
            snapshotMembership = snap.membership
            membershipChanges = []
            latestSnapshot = snap
            receivedSnapshot = snap
        }
        send(to: from, .appendResponse(success: true, index: snap.index, hintIndex: 0, hintTerm: 0))
    }

    mutating func commitTo(_ index: UInt64) {
        guard index > log.committed, index <= log.lastIndex else { return }
        log.committed = index
    }

    // MARK: - Leader side of replication

    mutating func appendLocal(kind: RaftEntryKind, data: [UInt8]) -> UInt64 {
        let e = RaftEntry(term: term, index: log.lastIndex + 1, kind: kind, data: data)
        appendReceived(e)
        if kind == .configChange && role == .leader { syncProgressWithMembership() }
        return e.index
    }

    mutating func appendReceived(_ e: RaftEntry) {
        log.append(e)
        if e.kind == .configChange, let m = try? RaftMembership(decoding: e.data) {
            membershipChanges.append(MembershipChange(index: e.index, membership: m))
        }
    }

    mutating func syncProgressWithMembership() {
        let members = membership.members
        for peer in members where peer != id && progress[peer] == nil {
            var pr = RaftProgress(next: log.lastIndex + 1)
            pr.recentActive = true
            progress[peer] = pr
        }
        for peer in progress.keys where !members.contains(peer) {
            progress[peer] = nil
        }
    }

    mutating func send(to peer: UInt64, _ body: RaftMessage.Body) {
        outbox.append(RaftMessage(from: id, to: peer, term: term, body: body))
    }

    mutating func broadcastAppend() {
        for peer in membership.members where peer != id {
            _ = sendAppend(to: peer, sendIfEmpty: true)
        }
    }

    /// A ReadIndex round asks the voters only (only their answers confirm it).
    mutating func broadcastHeartbeat(allLearners: Bool = false, votersOnly: Bool = false) {
        // Every voter hears this heartbeat, carrying the current read sequence: pending reads ride on it.
        readBroadcastPending = false
        for peer in membership.members where peer != id {
            guard let pr = progress[peer] else { continue }
            if !membership.isVoter(peer) {
                if votersOnly { continue }
                if !allLearners && pr.state == .replicate && pr.match >= log.lastIndex && pr.inflight.isEmpty { continue }
            }
            send(to: peer, .heartbeat(commit: min(pr.match, log.committed), readSequence: readSequence))
        }
    }

    /// Sends the next append (or a snapshot) to `peer` unless its pipeline is full; true if sent.
    mutating func sendAppend(to peer: UInt64, sendIfEmpty: Bool) -> Bool {
        guard var pr = progress[peer], !pr.isPaused(maxInflight: configuration.maxInflightAppends) else { return false }
        let prevIndex = pr.next - 1
        if let prevTerm = log.term(at: prevIndex) {
            let entries = log.slice(from: pr.next, through: log.lastIndex, maxBytes: configuration.maxBytesPerAppend)
            if entries.isEmpty && !sendIfEmpty { return false }
            send(to: peer, .append(prevIndex: prevIndex, prevTerm: prevTerm, commit: log.committed, entries: entries))
            switch pr.state {
            case .replicate:
                if let last = entries.last {
                    pr.next = last.index + 1
                    pr.inflight.append(last.index)
                }
            case .probe:
                pr.probeSent = true
            case .snapshot:
                break
            }
        } else {
            // The entries this follower needs were compacted away.
            guard let snap = latestSnapshot else { return false }
            send(to: peer, .installSnapshot(snap))
            pr.becomeSnapshot(snap.index)
        }
        progress[peer] = pr
        return true
    }

    mutating func handleAppendResponse(from: UInt64, success: Bool, index: UInt64, hintIndex: UInt64, hintTerm: UInt64) {
        guard var pr = progress[from] else { return }
        pr.recentActive = true
        if success {
            let updated = index > pr.match
            if updated {
                pr.match = index
                pr.next = max(pr.next, index + 1)
            }
            switch pr.state {
            case .probe:
                if index >= pr.match { pr.becomeReplicate() }
            case .snapshot:
                if pr.match >= pr.pendingSnapshot { pr.becomeReplicate() }
            case .replicate:
                pr.freeInflight(through: index)
            }
            progress[from] = pr
            if updated && maybeCommit() {
                broadcastAppend()
            }
            if transferTarget == from && pr.match == log.lastIndex {
                send(to: from, .timeoutNow)
            }
            while sendAppend(to: from, sendIfEmpty: false) {}
        } else {
            switch pr.state {
            case .replicate:
                if index <= pr.match { return }
            case .probe:
                if index != pr.next - 1 { return }
            case .snapshot:
                return
            }
            var next = hintIndex
            if hintTerm != 0, let last = log.lastIndex(ofTerm: hintTerm, atOrBefore: index) {
                next = last + 1
            }
            pr.becomeProbe()
            pr.next = max(pr.match + 1, min(next, index))
            progress[from] = pr
            _ = sendAppend(to: from, sendIfEmpty: true)
        }
    }

    mutating func handleHeartbeatResponse(from: UInt64, readSequence seq: UInt64) {
        guard var pr = progress[from] else { return }
        pr.recentActive = true
        pr.readAck = max(pr.readAck, seq)
        switch pr.state {
        case .probe:
            pr.probeSent = false
        case .replicate:
            // A lost append would otherwise hold its inflight slot forever.
            if pr.inflight.count >= configuration.maxInflightAppends { pr.inflight.removeFirst() }
        case .snapshot:
            break
        }
        progress[from] = pr
        if pr.match < log.lastIndex {
            _ = sendAppend(to: from, sendIfEmpty: true)
        }
        confirmReads()
    }

    /// Advances the commit index to what a quorum of voters has durably stored, current term only.
    mutating func maybeCommit() -> Bool {
        let voters = membership.voters
        guard !voters.isEmpty else { return false }
        let matches = voters.map { $0 == id ? log.persisted : (progress[$0]?.match ?? 0) }.sorted(by: >)
        let candidate = matches[membership.quorum - 1]
        guard candidate > log.committed, log.term(at: candidate) == term else { return false }
        log.committed = candidate
        if !readsAwaitingCommit.isEmpty && committedInCurrentTerm {
            let waiting = readsAwaitingCommit
            readsAwaitingCommit = []
            for r in waiting { handleReadRequest(context: r.context, origin: r.origin) }
        }
        // A leader that removed itself hands over once the removal is committed.
        if !membership.isVoter(id), (membershipChanges.last?.index ?? 0) <= log.committed {
            becomeFollower(term: term, leader: 0)
            return false
        }
        return true
    }

    mutating func tickLeader() {
        heartbeatElapsed += 1
        electionElapsed += 1
        if electionElapsed >= configuration.electionTicks {
            electionElapsed = 0
            if configuration.checkQuorum {
                let active = membership.voters.filter { $0 == id || progress[$0]?.recentActive == true }.count
                if active < membership.quorum {
                    becomeFollower(term: term, leader: 0)
                    return
                }
                for peer in progress.keys.sorted() { progress[peer]?.recentActive = false }
            }
            transferTarget = 0
        }
        for peer in membership.members where peer != id {
            guard var pr = progress[peer], pr.state == .snapshot else { continue }
            pr.snapshotTicks += 1
            if pr.snapshotTicks >= configuration.electionTicks {
                // The snapshot (or its answer) was probably lost: probe again, which resends it if needed.
                pr.becomeProbe()
            }
            progress[peer] = pr
        }
        if heartbeatElapsed >= configuration.heartbeatTicks {
            heartbeatElapsed = 0
            heartbeatRounds += 1
            broadcastHeartbeat(allLearners: heartbeatRounds % configuration.learnerHeartbeatRounds == 0)
        }
    }

    // MARK: - ReadIndex

    mutating func handleReadRequest(context: [UInt8], origin: UInt64) {
        guard committedInCurrentTerm else {
            // Our commit index may lag the previous leader's until our no-op commits.
            readsAwaitingCommit.append(PendingRead(sequence: 0, index: 0, context: context, origin: origin))
            return
        }
        if membership.voters == [id] {
            releaseRead(index: log.committed, context: context, origin: origin)
            return
        }
        // A voter's request is its acknowledgement: it was still in this term when it sent it, after its
        // reads began. With the leader that makes a quorum when the quorum is two (two or three voters):
        // a leader of a later term needs a vote from one of the two, which neither had given (the leader
        // by now, the follower when it sent), so nothing was committed before those reads began that this
        // commit index misses. Saves the heartbeat round: a follower's read costs one round trip.
        if origin != id, membership.quorum == 2, membership.isVoter(origin), membership.isVoter(id) {
            releaseRead(index: log.committed, context: context, origin: origin)
            return
        }
        // Every read that arrives before the next `ready()` shares one sequence and one heartbeat round
        // (the leader's own and each follower's): a heartbeat sent after a read was registered confirms it.
        if !readBroadcastPending {
            readSequence += 1
            readBroadcastPending = true
        }
        pendingReads.append(PendingRead(sequence: readSequence, index: log.committed, context: context, origin: origin))
    }

    mutating func confirmReads() {
        guard !pendingReads.isEmpty else { return }
        let acks = membership.voters.map { $0 == id ? readSequence : (progress[$0]?.readAck ?? 0) }.sorted(by: >)
        guard !acks.isEmpty else { return }
        let confirmed = acks[membership.quorum - 1]
        let ready = pendingReads.filter { $0.sequence <= confirmed }
        guard !ready.isEmpty else { return }
        pendingReads.removeAll { $0.sequence <= confirmed }
        for r in ready { releaseRead(index: r.index, context: r.context, origin: r.origin) }
    }

    mutating func releaseRead(index: UInt64, context: [UInt8], origin: UInt64) {
        if origin == id {
            confirmedReads.append(RaftReadState(index: index, context: context))
        } else {
            send(to: origin, .readIndexResponse(index: index, context: context))
        }
    }
}
