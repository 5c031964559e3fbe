import Logging

/// The state the run loop owns: the Raft core, the log and everything in flight. Only `run()` touches it,
/// one turn at a time, so none of it needs a lock.
final class ConsensusDriver {
    let node: ConsensusNode
    var raft: RaftNode
    let wal: WriteAheadLog
    var rng: ConsensusRandom
    var logger: Logger { node.logger }

    var appliedIndex: UInt64
    var lastSnapshotIndex: UInt64
    var storeRevision: UInt64
    /// Term and vote as last made durable: only a change of these (or new entries) needs an fsync.
    var syncedHard: RaftHardState
    var soft = RaftSoftState(leader: 0, role: .follower)
    var knownMembership: RaftMembership
    var ticks: UInt64 = 0
    var ticksWithoutLeader = 0

    /// Proposals waiting for a leader to be known (or a leadership transfer to end).
    var parked: [Proposal] = []
    /// This node's proposals handed to a leader (itself or by forwarding) and not yet applied, and the
    /// term and leader they went to: if that leader goes, they fail at once with `.leaderChanged`.
    var submitted: Set<UInt64> = []
    var submittedUnder = (term: UInt64(0), leader: UInt64(0))
    /// Read ids waiting for a ReadIndex round. One round is in flight at a time (as in etcd): reads that
    /// arrive meanwhile share the next one instead of each turn starting its own.
    var unroundedReads: [UInt64] = []
    var nextRound: UInt64 = 0
    var rounds: [UInt64: ReadRound] = [:]
    /// Read states whose index this replica has not applied yet (defensive: the core should not emit them).
    var confirmedAhead: [(index: UInt64, round: UInt64)] = []
    var configWaiters: [UInt64: (term: UInt64, waiter: Waiter<Void>)] = [:]
    /// Frames too large for one transport frame (snapshots) arrive in chunks.
    var assembler = FrameAssembler()
    var nextChunkedFrame: UInt64 = 0
    /// Membership changes refused only because another one is in flight.
    var retryAdmin: [AdminRequest] = []
    /// Peers' addresses, asked of the resolver (gossip's member list, behind its lock) once per election
    /// timeout at most instead of once per message.
    var addresses: [UInt64: PeerAddress] = [:]
    var addressesResolvedAt: UInt64 = 0

    struct ReadRound {
        var reads: [UInt64]
        var startedAt: UInt64
    }

    var leaderlessTicks: Int { 2 * node.settings.electionTicks }
    var leaderKnown: Bool { raft.role == .leader || raft.leader != 0 }

    init(node: ConsensusNode) throws(ConsensusError) {
        self.node = node
        let settings = node.settings
        var system = SystemRandomNumberGenerator()
        rng = ConsensusRandom(seed: (settings.randomSeed ?? system.next()) &+ node.id &* 0x9E37_79B9)
        let opened: (log: WriteAheadLog, recovered: WALRecoveredState)
        do {
            opened = try WriteAheadLog.open(directory: node.dataDirectory + "/raft", fileSystem: node.makeFileSystem(), options: settings.walOptions)
        } catch {
            throw .storage(error.description)
        }
        wal = opened.log
        let recovered = opened.recovered
        var state = RaftPersistentState()
        if let hs = recovered.hardState {
            state.hardState = RaftHardState(term: hs.term, votedFor: hs.vote, commit: hs.commit)
        }
        var store = ClusterStore(historyRevisions: settings.storeHistoryRevisions)
        if let snap = recovered.snapshot {
            do {
                let membership = try RaftMembership(decoding: snap.configuration)
                state.snapshot = RaftSnapshot(index: snap.index, term: snap.term, membership: membership, data: snap.data)
                store = try ClusterStore(restoring: snap.data, historyRevisions: settings.storeHistoryRevisions)
            } catch {
                throw .storage("the snapshot at index \(snap.index) cannot be decoded: \(error)")
            }
        }
        for e in recovered.entries {
            guard let kind = RaftEntryKind(rawValue: e.kind) else {
                throw .storage("log entry \(e.index) has unknown kind \(e.kind)")
            }
            state.entries.append(RaftEntry(term: e.term, index: e.index, kind: kind, data: e.data))
        }
        let empty = recovered.hardState == nil && recovered.snapshot == nil && recovered.entries.isEmpty
        if empty, let bootstrap = node.bootstrap, !bootstrap.voters.isEmpty {
            // The initial membership becomes entry 1, committed, so it survives restarts like any other
            // configuration and every founding member holds the identical first entry.
            let first = RaftEntry(term: 1, index: 1, kind: .configChange, data: bootstrap.encode())
            state = RaftPersistentState(hardState: RaftHardState(term: 1, votedFor: 0, commit: 1), entries: [first])
            do {
                try wal.append([WALEntry(index: 1, term: 1, kind: first.kind.rawValue, data: first.data)])
                try wal.save(hardState: WALHardState(term: 1, vote: 0, commit: 1))
                try wal.sync()
            } catch {
                throw .storage(error.description)
            }
            node.logger.info("bootstrapped a new Raft cluster", metadata: [
                "voters": "\(bootstrap.voters)", "learners": "\(bootstrap.learners)"])
        }
        let configuration = RaftConfiguration(
            id: node.id, electionTicks: settings.electionTicks, heartbeatTicks: settings.heartbeatTicks,
            maxBytesPerAppend: settings.maxBytesPerAppend, maxInflightAppends: settings.maxInflightAppends,
            learnerHeartbeatRounds: settings.learnerHeartbeatRounds)
        raft = RaftNode(configuration: configuration, bootstrap: .empty, restoring: state)
        syncedHard = state.hardState
        appliedIndex = state.snapshot?.index ?? 0
        lastSnapshotIndex = appliedIndex
        storeRevision = store.revision
        knownMembership = raft.membership
        node.storeBox.withLockedValue { $0 = store }
        node.logger.info("Raft node started", metadata: [
            "term": "\(raft.term)", "commitIndex": "\(raft.commitIndex)", "lastIndex": "\(raft.lastIndex)",
            "snapshotIndex": "\(appliedIndex)", "voters": "\(raft.membership.voters)", "learners": "\(raft.membership.learners)"])
    }

    // MARK: Turns

    func start() throws(WALError) {
        try drainReady()
        publish()
    }

    func turn(_ batch: MailboxBatch) throws(WALError) {
        // Bounded so that a stalled process does not replay a burst of timeouts; a follower's ticks may arrive
        // all at once (see `ticksUntilDue`), up to its longest election timeout.
        let cap = raft.role == .leader ? node.settings.electionTicks : 2 * node.settings.electionTicks
        if batch.ticks > 0 { tick(min(batch.ticks, cap)) }
        for (from, bytes) in batch.inbound { receive(from: from, bytes) }
        parked.append(contentsOf: batch.proposals)
        submitProposals()
        unroundedReads.append(contentsOf: batch.reads)
        startReadRound()
        let retries = retryAdmin
        retryAdmin = []
        for request in retries + batch.admin { administer(request) }
        try drainReady()
        // A leader learnt during this turn can take what waited for one.
        if leaderKnown && (!parked.isEmpty || !unroundedReads.isEmpty) {
            submitProposals()
            startReadRound()
            try drainReady()
        }
        publish()
    }

    func close() throws(WALError) {
        try wal.sync()
    }

    /// Fails what only the loop knows about; `ConsensusNode.stop()` fails the rest.
    func failAll(_ error: ConsensusError) {
        for (_, w) in configWaiters { w.waiter.continuation.resume(returning: .failure(error)) }
        configWaiters = [:]
        for r in retryAdmin { r.waiter.continuation.resume(returning: .failure(error)) }
        retryAdmin = []
    }

    // MARK: Inputs

    /// Ticks the loop may let pass before it must deliver them: 1 while anything here is timed by ticks
    /// (waiters, parked proposals, read rounds, counting up to `leaderless`), else what the core says.
    var ticksUntilDue: Int {
        guard leaderKnown || ticksWithoutLeader >= leaderlessTicks, parked.isEmpty, rounds.isEmpty, unroundedReads.isEmpty, confirmedAhead.isEmpty,
              configWaiters.isEmpty, retryAdmin.isEmpty else { return 1 }
        let waiting = node.shared.withLockedValue { !$0.proposalWaiters.isEmpty || !$0.readWaiters.isEmpty }
        return waiting ? 1 : raft.ticksUntilDue
    }

    func tick(_ count: Int) {
        for _ in 0..<count { raft.tick(using: &rng) }
        ticks += UInt64(count)
        ticksWithoutLeader = leaderKnown ? 0 : ticksWithoutLeader + count
        let now = ContinuousClock.now
        if ticksWithoutLeader >= leaderlessTicks {
            failParked(.noLeader)
        } else {
            parked.removeAll { $0.deadline <= now }
        }
        // A round whose messages were lost never comes back: ask again. Soon, since later reads wait for it.
        let stale = rounds.filter { ticks - $0.value.startedAt >= UInt64(max(2, node.settings.electionTicks / 2)) }
        for (id, round) in stale {
            rounds[id] = nil
            unroundedReads.append(contentsOf: round.reads)
        }
        startReadRound()
        expire(now: now)
    }

    func failParked(_ error: ConsensusError) {
        let sequences = parked.compactMap(\.sequence)
        parked = []
        let waiters = node.shared.withLockedValue { s in sequences.compactMap { s.proposalWaiters.removeValue(forKey: $0) } }
        for w in waiters { w.continuation.resume(returning: .failure(error)) }
        let reads = unroundedReads
        unroundedReads = []
        resolveReads(reads, with: .failure(error))
    }

    func expire(now: ContinuousClock.Instant) {
        let (proposals, reads) = node.shared.withLockedValue { s in
            var p: [Waiter<StoreApplyResult>] = []
            var r: [Waiter<Void>] = []
            for (k, w) in s.proposalWaiters where w.deadline <= now {
                p.append(w)
                s.proposalWaiters[k] = nil
                submitted.remove(k)
            }
            for (k, w) in s.readWaiters where w.deadline <= now {
                r.append(w)
                s.readWaiters[k] = nil
            }
            return (p, r)
        }
        for w in proposals { w.continuation.resume(returning: .failure(.timeout)) }
        for w in reads { w.continuation.resume(returning: .failure(.timeout)) }
        for (index, w) in configWaiters where w.waiter.deadline <= now {
            configWaiters[index] = nil
            w.waiter.continuation.resume(returning: .failure(.timeout))
        }
    }

    func receive(from: UInt64, _ bytes: [UInt8], assembled: Bool = false) {
        guard let frame = try? ConsensusFrame(decoding: bytes) else {
            logger.debug("dropped an undecodable consensus frame", metadata: ["from": "\(from)"])
            return
        }
        switch frame {
        case .chunk(let chunk):
            guard !assembled else { return }
            if let whole = assembler.add(chunk, from: from) {
                receive(from: from, whole, assembled: true)
            }
        case .raft(let m):
            // The transport's hello names the sender; a message claiming another sender is dropped.
            guard m.from == from, m.to == node.id else { return }
            raft.step(m)
        case .forward(let envelopes):
            if raft.role == .leader {
                let deadline = ContinuousClock.now + node.settings.requestTimeout
                for e in envelopes {
                    do {
                        try raft.propose(e)
                    } catch {
                        parked.append(Proposal(envelope: e, deadline: deadline))
                    }
                }
            } else if raft.leader != 0, raft.leader != from {
                forward(envelopes, to: raft.leader)
            }
        }
    }

    func submitProposals() {
        guard !parked.isEmpty else { return }
        noteLeader()
        if raft.role == .leader {
            var kept: [Proposal] = []
            for p in parked {
                do {
                    try raft.propose(p.envelope)
                    if let seq = p.sequence { submitted.insert(seq) }
                } catch {
                    kept.append(p)  // a leadership transfer is under way; retried next turn
                }
            }
            parked = kept
        } else if raft.leader != 0 {
            forward(parked.map(\.envelope), to: raft.leader)
            for p in parked { if let seq = p.sequence { submitted.insert(seq) } }
            parked = []
        }
    }

    /// Fails this node's submitted proposals once the leader they went to is no longer the leader (or
    /// its term ended): the old leader may have dropped them, and no answer would come before the timeout.
    func noteLeader() {
        let now = (term: raft.term, leader: raft.leader)
        guard now != submittedUnder else { return }
        submittedUnder = now
        guard !submitted.isEmpty else { return }
        let sequences = submitted
        submitted = []
        let waiters = node.shared.withLockedValue { s in sequences.compactMap { s.proposalWaiters.removeValue(forKey: $0) } }
        if !waiters.isEmpty {
            logger.debug("failing proposals sent to a former leader", metadata: ["count": "\(waiters.count)", "term": "\(now.term)", "leader": "\(now.leader)"])
        }
        for w in waiters { w.continuation.resume(returning: .failure(.leaderChanged)) }
    }

    func forward(_ envelopes: [[UInt8]], to leader: UInt64) {
        guard let address = address(of: leader) else { return }
        var chunk: [[UInt8]] = []
        var bytes = 0
        for e in envelopes {
            if bytes + e.count > ConsensusFrame.maxForwardBytes, !chunk.isEmpty {
                node.transport.send(ConsensusFrame.forward(chunk).encode(), to: leader, at: address)
                chunk = []
                bytes = 0
            }
            chunk.append(e)
            bytes += e.count
        }
        if !chunk.isEmpty { node.transport.send(ConsensusFrame.forward(chunk).encode(), to: leader, at: address) }
    }

    func startReadRound() {
        guard !unroundedReads.isEmpty, rounds.isEmpty, leaderKnown else { return }
        nextRound += 1
        var w = RaftWireWriter()
        w.varint(nextRound)
        do {
            try raft.readIndex(context: w.bytes)
            rounds[nextRound] = ReadRound(reads: unroundedReads, startedAt: ticks)
            unroundedReads = []
        } catch {
            // No leader after all: the reads wait for one, or fail once leaderless too long.
        }
    }

    func administer(_ request: AdminRequest) {
        if request.waiter.deadline <= ContinuousClock.now {
            request.waiter.continuation.resume(returning: .failure(.membershipChangePending))
            return
        }
        do throws(RaftError) {
            switch request.operation {
            case .change(let change):
                let index = try raft.proposeConfigChange(change)
                configWaiters[index] = (raft.term, request.waiter)
            case .transfer(let target):
                try raft.transferLeadership(to: target)
                request.waiter.continuation.resume(returning: .success(()))
            }
        } catch {
            if case .configChangePending = error {
                // Usually brief (a new leader's first commit, or the previous change committing): retry
                // at each turn until the request's deadline.
                retryAdmin.append(request)
                return
            }
            let mapped: ConsensusError = switch error {
            case .notLeader(let leader): .notLeader(leader: leader)
            case .leadershipTransferInProgress: .leadershipTransferInProgress
            case .configChangePending: .membershipChangePending
            case .invalidConfigChange, .snapshotOutOfDate, .compactBeyondApplied: .invalidMembershipChange
            }
            request.waiter.continuation.resume(returning: .failure(mapped))
        }
    }

    // MARK: Ready

    func drainReady() throws(WALError) {
        // Bounded so one turn cannot spin forever; whatever is left is picked up at the next tick.
        var rounds = 0
        while raft.hasReady && rounds < 64 {
            rounds += 1
            let rd = raft.ready()
            try handle(rd)
            raft.advance()
            try maybeSnapshot()
            // The round that just finished lets the reads that queued behind it go.
            startReadRound()
        }
    }

    func handle(_ rd: RaftReady) throws(WALError) {
        if let s = rd.softState { noteSoftState(s) }
        noteLeader()

        // 0. A leader's appends and heartbeats leave before its own write, so the followers' fsyncs overlap
        // with the leader's (Raft thesis 10.2.1). Safe: they promise nothing about this node's disk, and the
        // core counts the leader's own entries towards a quorum only once persisted (`advance()`). Only for
        // a term already durable: a message must never carry a term this node could forget.
        var later: [RaftMessage] = []
        for m in rd.messages {
            switch m.body {
            case .append, .heartbeat, .installSnapshot:
                if m.term == syncedHard.term { send(m) } else { later.append(m) }
            default:
                later.append(m)
            }
        }

        // 1. Persist, in the order the log's contract asks for, then one fsync for all of it.
        var mustSync = false
        if let snap = rd.snapshot {
            try wal.saveSnapshot(WALSnapshot(index: snap.index, term: snap.term, configuration: snap.membership.encode(), data: snap.data),
                                 discardingLaterEntries: true)
        }
        if let from = rd.truncateFrom, from > (rd.snapshot?.index ?? 0) {
            try wal.truncate(from: from)
            mustSync = true
        }
        if !rd.entries.isEmpty {
            try wal.append(rd.entries.map { WALEntry(index: $0.index, term: $0.term, kind: $0.kind.rawValue, data: $0.data) })
            mustSync = true
        }
        if let hs = rd.hardState {
            try wal.save(hardState: WALHardState(term: hs.term, vote: hs.votedFor, commit: hs.commit))
            // The commit index alone may be lost in a crash (it is learnt again), so it rides along with
            // the next sync instead of costing one.
            if hs.term != syncedHard.term || hs.votedFor != syncedHard.votedFor { mustSync = true }
            if hs.term != syncedHard.term {
                logger.info("Raft term changed", metadata: ["term": "\(hs.term)", "previous": "\(syncedHard.term)"])
            }
            syncedHard = hs
        }
        if mustSync { try wal.sync() }

        // 2. Only now may promises leave.
        for m in later { send(m) }

        // 3. Apply, then serve reads that were waiting for it.
        if let snap = rd.snapshot { install(snap) }
        if !rd.committedEntries.isEmpty { apply(rd.committedEntries) }
        var served: [UInt64] = []
        for rs in rd.readStates {
            var r = RaftWireReader(rs.context)
            guard let round = try? r.varint() else { continue }
            if rs.index <= appliedIndex { served.append(round) } else { confirmedAhead.append((rs.index, round)) }
        }
        if !confirmedAhead.isEmpty {
            served += confirmedAhead.filter { $0.index <= appliedIndex }.map(\.round)
            confirmedAhead.removeAll { $0.index <= appliedIndex }
        }
        for round in served {
            if let r = rounds.removeValue(forKey: round) { resolveReads(r.reads, with: .success(())) }
        }
        if raft.membership != knownMembership { noteMembership(raft.membership) }
    }

    func address(of peer: UInt64) -> PeerAddress? {
        // Kept for an election timeout: a leader's heartbeats asked every turn, and each ask copies and scans
        // gossip's whole member list. A peer that moved is reached within that; one not found is asked again.
        if ticks >= addressesResolvedAt + UInt64(max(1, node.settings.electionTicks)) || ticks < addressesResolvedAt {
            addressesResolvedAt = ticks
            addresses = [:]
        }
        if let known = addresses[peer] { return known }
        let resolved = node.resolver(peer)
        addresses[peer] = resolved
        return resolved
    }

    func send(_ m: RaftMessage) {
        guard let address = address(of: m.to) else { return }
        let frame = ConsensusFrame.raft(m).encode()
        if frame.count <= node.settings.frameChunkBytes {
            node.transport.send(frame, to: m.to, at: address)
            return
        }
        // A large snapshot: in pieces the transport accepts; the receiver installs it once all arrived.
        nextChunkedFrame += 1
        for piece in ConsensusFrame.split(frame, id: nextChunkedFrame, limit: node.settings.frameChunkBytes) {
            node.transport.send(piece, to: m.to, at: address)
        }
    }

    func noteSoftState(_ s: RaftSoftState) {
        if s.role != soft.role || s.leader != soft.leader {
            logger.info("Raft role or leader changed", metadata: [
                "role": "\(ConsensusRole(s.role).rawValue)", "leader": "\(s.leader)", "term": "\(raft.term)"])
        }
        if s.leader != soft.leader && !rounds.isEmpty {
            // A round sent to the old leader will not be answered: ask the new one at once.
            for (_, round) in rounds.sorted(by: { $0.key < $1.key }) { unroundedReads.append(contentsOf: round.reads) }
            rounds = [:]
        }
        soft = s
    }

    func noteMembership(_ m: RaftMembership) {
        logger.info("Raft membership changed", metadata: [
            "change": "\(m.changes(since: knownMembership))", "voters": "\(m.voters)", "learners": "\(m.learners.count)"])
        for gone in knownMembership.members where !m.contains(gone) && gone != node.id {
            node.transport.removePeer(gone)
        }
        knownMembership = m
    }

    func install(_ snap: RaftSnapshot) {
        let store: ClusterStore
        do {
            store = try ClusterStore(restoring: snap.data, historyRevisions: node.settings.storeHistoryRevisions)
        } catch {
            // Every replica encodes snapshots the same way, so this is a bug or corruption in transit
            // that the CRC did not catch; keep the old state and let the leader resend.
            logger.error("cannot decode the snapshot sent by the leader", metadata: ["index": "\(snap.index)", "error": "\(error)"])
            return
        }
        node.storeBox.withLockedValue { $0 = store }
        storeRevision = store.revision
        appliedIndex = snap.index
        lastSnapshotIndex = snap.index
        logger.info("installed a snapshot from the leader", metadata: ["index": "\(snap.index)", "revision": "\(store.revision)"])
        for (index, w) in configWaiters where index <= snap.index {
            configWaiters[index] = nil
            w.waiter.continuation.resume(returning: .failure(.timeout))
        }
    }

    func apply(_ entries: [RaftEntry]) {
        var results: [(UInt64, StoreApplyResult)] = []
        let nodeID = node.id
        let nonce = node.nonce
        storeRevision = node.storeBox.withLockedValue { store in
            for e in entries where e.kind == .normal {
                let result: StoreApplyResult
                do {
                    let (pid, command) = try ProposalEnvelope.decode(e.data)
                    result = store.apply(encoded: command)
                    if pid.origin == nodeID && pid.nonce == nonce {
                        results.append((pid.sequence, result))
                        submitted.remove(pid.sequence)
                    }
                } catch {
                    result = .invalid(reason: "undecodable proposal envelope")
                }
            }
            return store.revision
        }
        for e in entries {
            if let w = configWaiters.removeValue(forKey: e.index) {
                w.waiter.continuation.resume(returning: e.kind == .configChange && e.term == w.term ? .success(()) : .failure(.dropped))
            }
        }
        appliedIndex = entries[entries.count - 1].index
        if !results.isEmpty {
            let answers = node.shared.withLockedValue { s in
                results.compactMap { seq, result in s.proposalWaiters.removeValue(forKey: seq).map { ($0, result) } }
            }
            for (w, result) in answers { w.continuation.resume(returning: .success(result)) }
        }
    }

    func resolveReads(_ ids: [UInt64], with result: Result<Void, ConsensusError>) {
        guard !ids.isEmpty else { return }
        let waiters = node.shared.withLockedValue { s in ids.compactMap { s.readWaiters.removeValue(forKey: $0) } }
        for w in waiters { w.continuation.resume(returning: result) }
    }

    func maybeSnapshot() throws(WALError) {
        let threshold = node.settings.snapshotThreshold
        guard threshold > 0, appliedIndex >= lastSnapshotIndex + threshold, raft.appliedIndex == appliedIndex else { return }
        // A brief O(1) copy under the lock; it is gone before the next write, so no write pays a full copy.
        let data = node.storeBox.withLockedValue { $0 }.snapshot()
        do {
            let snap = try raft.compact(through: appliedIndex, data: data)
            try wal.saveSnapshot(WALSnapshot(index: snap.index, term: snap.term, configuration: snap.membership.encode(), data: snap.data),
                                 discardingLaterEntries: false)
            lastSnapshotIndex = snap.index
            logger.debug("took a snapshot", metadata: ["index": "\(snap.index)", "bytes": "\(data.count)"])
        } catch let error as RaftError {
            logger.warning("could not compact the Raft log", metadata: ["error": "\(error)"])
            lastSnapshotIndex = appliedIndex
        } catch let error as WALError {
            throw error
        } catch {
            lastSnapshotIndex = appliedIndex
        }
    }

    // MARK: Publishing

    func publish() {
        let m = raft.membership
        var progress: [UInt64: UInt64] = [:]
        if raft.role == .leader {
            for member in m.members where member != node.id {
                progress[member] = raft.matchIndex(of: member) ?? 0
            }
        }
        let status = ConsensusStatus(
            id: node.id, role: ConsensusRole(raft.role), term: raft.term, leader: raft.leader,
            commitIndex: raft.commitIndex, appliedIndex: appliedIndex, voters: m.voters, learners: m.learners)
        let leaderless = ticksWithoutLeader >= leaderlessTicks
        let answersMayWait = raft.role == .leader && raft.ticksUntilDue > 1 && parked.isEmpty && rounds.isEmpty && unroundedReads.isEmpty
            && confirmedAhead.isEmpty && configWaiters.isEmpty && retryAdmin.isEmpty
        let revision = storeRevision
        let (woken, roleWoken) = node.shared.withLockedValue { s -> ([RevisionWaiter], [RoleWaiter]) in
            s.status = status
            s.progress = progress
            s.leaderless = leaderless
            s.heartbeatAnswersMayWait = answersMayWait
            var roleWoken: [RoleWaiter] = []
            if !s.roleWaiters.isEmpty {
                for (k, w) in s.roleWaiters where w.role != status.role || w.term != status.term {
                    roleWoken.append(w)
                    s.roleWaiters[k] = nil
                }
            }
            guard revision != s.publishedRevision else { return ([], roleWoken) }
            s.publishedRevision = revision
            var woken: [RevisionWaiter] = []
            for (k, w) in s.revisionWaiters where w.after < revision {
                woken.append(w)
                s.revisionWaiters[k] = nil
            }
            return (woken, roleWoken)
        }
        for w in woken { w.continuation.resume(returning: .success(revision)) }
        for w in roleWoken { w.continuation.resume(returning: status) }
    }
}
