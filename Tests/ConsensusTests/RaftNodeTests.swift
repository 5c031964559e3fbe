import Consensus
import Simulation
import Testing

@Suite struct RaftNodeTests {
    @Test func membershipChangesAreDescribedByWhatChanged() throws {
        let one = RaftMembership(voters: [1])
        let added = try #require(one.applying(.addLearner(7)))
        #expect(added.changes(since: one) == "learner 7 added")
        let promoted = try #require(added.applying(.promote(7)))
        #expect(promoted.changes(since: added) == "7 promoted")
        #expect(try #require(promoted.applying(.remove(1))).changes(since: promoted) == "1 removed")
        #expect(promoted.changes(since: promoted) == "none")
        // A snapshot can jump several steps at once.
        let jumped = RaftMembership(voters: [2, 7], learners: [1, 9])
        #expect(jumped.changes(since: promoted) == "learner 9 added; voter 2 added; 1 demoted")
    }

    @Test func electsOneLeaderByTicksAndCommitsNoop() {
        var c = RaftTestCluster(voters: [1, 2, 3])
        var rounds = 0
        while c.leaders.isEmpty && rounds < 200 { c.tickAll(); rounds += 1 }
        #expect(c.leaders.count == 1)
        let l = c.leaders[0]
        c.tickAll(times: 2)
        for id: UInt64 in [1, 2, 3] {
            #expect(c[id].leader == l)
            #expect(c[id].commitIndex == 1)
            #expect(c.applied[id]?[1]?.kind == .noop)
        }
    }

    @Test func singleVoterElectsItselfAndCommitsAlone() throws {
        var c = RaftTestCluster(voters: [1])
        c.tick(1, times: 25)
        #expect(c[1].role == .leader)
        try c.propose(1, "x")
        #expect(c.normalData(1) == ["x"])
    }

    @Test func replicatesAndAppliesInOrder() throws {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        #expect(c[1].role == .leader)
        for i in 0..<10 { try c.propose(1, "v\(i)") }
        c.deliverAll()
        c.tickAll()
        let expected = (0..<10).map { "v\($0)" }
        for id: UInt64 in [1, 2, 3] { #expect(c.normalData(id) == expected) }
    }

    @Test func followerRejectsProposalsWithLeaderHint() {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(2)
        #expect(throws: RaftError.notLeader(leader: 2)) { try c[1].propose([1]) }
    }

    @Test func preVoteKeepsPartitionedNodeFromDisruptingTheCluster() throws {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        let term = c[1].term
        c.isolate(3)
        c.tick(3, times: 100)
        // Pre-vote never succeeds alone, so the isolated node does not inflate its term.
        #expect(c[3].term == term)
        #expect(c[3].role == .preCandidate || c[3].role == .follower)
        c.heal()
        c.tickAll(times: 5)
        #expect(c[1].role == .leader)
        #expect(c[1].term == term)
        #expect(c[3].leader == 1)
    }

    @Test func withoutPreVoteAPartitionedNodeInflatesItsTerm() {
        var c = RaftTestCluster(voters: [1, 2, 3]) { RaftConfiguration(id: $0, preVote: false) }
        c.campaign(1)
        let term = c[1].term
        c.isolate(3)
        c.tick(3, times: 100)
        #expect(c[3].term > term)
    }

    @Test func checkQuorumMakesAnIsolatedLeaderStepDown() {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        c.isolate(1)
        c.tick(1, times: 2 * c[1].configuration.electionTicks + 1)
        #expect(c[1].role == .follower)
        #expect(c[1].leader == 0)
    }

    @Test func followerWithLiveLeaderIgnoresVoteRequests() {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        let term = c[2].term
        c[2].step(RaftMessage(from: 3, to: 2, term: term + 5, body: .vote(lastIndex: 100, lastTerm: term + 4, leadershipTransfer: false)))
        #expect(c[2].term == term)
        #expect(c[2].leader == 1)
        // A transfer vote passes the lease.
        c[2].step(RaftMessage(from: 3, to: 2, term: term + 5, body: .vote(lastIndex: 100, lastTerm: term + 4, leadershipTransfer: true)))
        #expect(c[2].term == term + 5)
        #expect(c[2].votedFor == 3)
    }

    @Test func votesOnlyForUpToDateLogs() {
        let state = RaftPersistentState(hardState: RaftHardState(term: 2),
                                        entries: [RaftEntry(term: 1, index: 1), RaftEntry(term: 2, index: 2)])
        var n = RaftNode(configuration: RaftConfiguration(id: 1), bootstrap: RaftMembership(voters: [1, 2, 3]), restoring: state)
        n.step(RaftMessage(from: 2, to: 1, term: 3, body: .vote(lastIndex: 5, lastTerm: 1, leadershipTransfer: false)))
        #expect(n.votedFor == 0)
        n.step(RaftMessage(from: 3, to: 1, term: 3, body: .vote(lastIndex: 2, lastTerm: 2, leadershipTransfer: false)))
        #expect(n.votedFor == 3)
        let rd = n.ready()
        // The vote is only sent together with the hard state that records it.
        #expect(rd.hardState?.votedFor == 3)
        #expect(rd.messages.contains { $0.to == 3 && $0.body == .voteResponse(granted: true) })
    }

    @Test func repairsConflictingFollowerLogs() {
        // Leader-to-be 1 has the longest log of the newest term; 2 and 3 diverge (Raft Figure 7 style).
        func st(_ terms: [UInt64], term: UInt64) -> RaftPersistentState {
            RaftPersistentState(hardState: RaftHardState(term: term),
                                entries: terms.enumerated().map { RaftEntry(term: $1, index: UInt64($0 + 1), data: [UInt8($1)]) })
        }
        var c = RaftTestCluster(voters: [])
        let m = RaftMembership(voters: [1, 2, 3, 4])
        c.add(1, bootstrap: m, state: st([1, 1, 1, 4, 4, 5, 5, 6, 6, 6], term: 6))
        c.add(2, bootstrap: m, state: st([1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], term: 3))
        c.add(3, bootstrap: m, state: st([1, 1, 1, 4], term: 4))
        c.add(4, bootstrap: m, state: st([1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6, 7, 7], term: 7))
        // 4 has the best log but is down; 1 wins with 2 and 3.
        c.isolate(4)
        c.campaign(1)
        #expect(c[1].role == .leader)
        c.tickAll(times: 3)
        let want = c.logTerms(1)
        #expect(want.count == 11)
        for id: UInt64 in [2, 3] { #expect(c.logTerms(id) == want) }
        c.heal()
        c.tickAll(times: 3)
        #expect(c.logTerms(4) == want)
        #expect(c.stored[4]?.entries.map(\.term) == want)
    }

    @Test func doesNotCommitPreviousTermEntriesByCounting() {
        // Figure 8: an entry of an earlier term on a majority is not committed until one of ours is.
        let m = RaftMembership(voters: [1, 2, 3])
        let two = [RaftEntry(term: 1, index: 1), RaftEntry(term: 2, index: 2)]
        var c = RaftTestCluster(voters: [])
        c.add(1, bootstrap: m, state: RaftPersistentState(hardState: RaftHardState(term: 3), entries: two))
        c.add(2, bootstrap: m, state: RaftPersistentState(hardState: RaftHardState(term: 3), entries: two))
        c.add(3, bootstrap: m, state: RaftPersistentState(hardState: RaftHardState(term: 3), entries: [two[0]]))
        c.held = [[1, 2], [1, 3]]
        c.campaign(1)
        // Let the vote requests out, keep the new leader's appends in.
        c.network = c.heldMessages
        c.heldMessages = []
        c.deliverAll()
        #expect(c[1].role == .leader)
        let t = c[1].term
        c[1].step(RaftMessage(from: 2, to: 1, term: t, body: .appendResponse(success: true, index: 2, hintIndex: 0, hintTerm: 0)))
        c.drain(1)
        #expect(c[1].matchIndex(of: 2) == 2)
        #expect(c[1].commitIndex < 2)
        c.held = []
        c.heldMessages = []
        c.tickAll(times: 3)
        #expect(c[1].commitIndex == 3)
        #expect(c[2].commitIndex == 3)
    }

    @Test func laggingFollowerGetsSnapshot() throws {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        c.isolate(3)
        for i in 0..<30 { try c.propose(1, "k\(i)") }
        c.deliverAll()
        c.tickAll()
        let applied = c[1].appliedIndex
        #expect(applied >= 31)
        let snap = try c[1].compact(through: applied, data: Array("state@\(applied)".utf8))
        c.stored[1]?.snapshot = snap
        c.stored[1]?.entries.removeAll { $0.index <= snap.index }
        #expect(c[1].snapshotIndex == applied)
        try c.propose(1, "after")
        c.heal()
        c.tickAll(times: 5)
        #expect(c.snapshotsInstalled[3] == 1)
        #expect(c[3].snapshotIndex == snap.index)
        #expect(c[3].commitIndex == c[1].commitIndex)
        #expect(c.stored[3]?.snapshot?.data == Array("state@\(applied)".utf8))
        #expect(c.normalData(3) == ["after"])
        // A node restarted from a snapshot keeps working.
        c.restart(3)
        c.tickAll(times: 3)
        #expect(c[3].commitIndex == c[1].commitIndex)
    }

    @Test func learnerReceivesLogThenIsPromoted() throws {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        try c.propose(1, "a")
        c.deliverAll()
        c.add(4, bootstrap: .empty)
        try c[1].proposeConfigChange(.addLearner(4))
        // Only one change at a time.
        #expect(throws: RaftError.configChangePending) { try c[1].proposeConfigChange(.remove(3)) }
        c.tickAll(times: 3)
        #expect(c[4].membership.isLearner(4))
        #expect(c.normalData(4) == ["a"])
        #expect(c[4].commitIndex == c[1].commitIndex)
        // A learner never campaigns.
        c.isolate(4)
        c.tick(4, times: 60)
        #expect(c[4].role == .follower)
        c.heal()
        try c[1].proposeConfigChange(.promote(4))
        c.tickAll(times: 3)
        for id: UInt64 in 1...4 { #expect(c[id].membership == RaftMembership(voters: [1, 2, 3, 4])) }
        // With 4 voters, two nodes down stop commits.
        c.isolate(3)
        c.isolate(4)
        try c.propose(1, "stuck")
        c.tickAll(times: 3)
        #expect(!c.normalData(1).contains("stuck"))
        c.heal()
        c.tickAll(times: 3)
        #expect(c.normalData(4).contains("stuck"))
    }

    @Test func removedLeaderStepsDownAndOthersContinue() throws {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        try c[1].proposeConfigChange(.remove(1))
        c.tickAll(times: 3)
        #expect(c[1].role == .follower)
        var rounds = 0
        while c.leaders.filter({ $0 != 1 }).isEmpty && rounds < 200 { c.tickAll(); rounds += 1 }
        let l = try #require(c.leaders.first)
        #expect(l != 1)
        #expect(c[l].membership == RaftMembership(voters: [2, 3]))
    }

    @Test func removedLeaderThatLostLeadershipStillFinishesItsRemoval() throws {
        var c = RaftTestCluster(voters: [1, 2])
        c.campaign(2)
        c.tickAll()
        // Node 1 never sees the removal of 2; 2 loses its quorum and steps down before committing it.
        c.isolate(1)
        try c[2].proposeConfigChange(.remove(2))
        c.drain(2)
        c.tick(2, times: 2 * c[2].configuration.electionTicks + 1)
        #expect(c[2].role != .leader)
        #expect(!c[2].membership.isVoter(2))
        c.heal()
        // 1 cannot win without 2 (2's log is ahead), so 2 must campaign to commit its own removal.
        var rounds = 0
        while c[1].membership != RaftMembership(voters: [1]) || c.leaders != [1], rounds < 300 {
            c.tickAll()
            rounds += 1
        }
        #expect(c.leaders == [1])
        #expect(c[1].membership == RaftMembership(voters: [1]))
    }

    @Test func oneReadyAtATime() throws {
        var c = RaftTestCluster(voters: [1])
        c.tick(1, times: 25)
        try c[1].propose([1])
        #expect(c[1].hasReady)
        _ = c[1].ready()
        try c[1].propose([2])
        #expect(!c[1].hasReady)
        c[1].advance()
        #expect(c[1].hasReady)
    }

    @Test func leadershipTransferToCaughtUpFollower() throws {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        let term = c[1].term
        c.held = [[1, 3]]
        try c.propose(1, "x")
        c.deliverAll()
        try c[1].transferLeadership(to: 3)
        #expect(throws: RaftError.leadershipTransferInProgress) { try c[1].propose([1]) }
        c.releaseHeld()
        c.deliverAll()
        c.tickAll()
        #expect(c[3].role == .leader)
        #expect(c[3].term == term + 1)
        #expect(c[1].leader == 3)
        #expect(c.normalData(3) == ["x"])
    }

    @Test func readIndexOnLeaderAndFollower() throws {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        try c.propose(1, "w")
        c.deliverAll()
        c.tickAll()
        try c[1].readIndex(context: [1])
        c.drain(1)
        c.deliverAll()
        #expect(c.reads[1] == [RaftReadState(index: c[1].commitIndex, context: [1])])
        try c[2].readIndex(context: [2])
        c.drain(2)
        c.deliverAll()
        #expect(c.reads[2]?.first?.context == [2])
        #expect((c.reads[2]?.first?.index ?? 0) <= c[2].appliedIndex)
        // A leader cut off from the quorum cannot confirm a read.
        c.isolate(1)
        try c[1].readIndex(context: [3])
        c.drain(1)
        c.tick(1, times: 3)
        #expect(c.reads[1]?.count == 1)
    }

    /// With three voters the asking follower and the leader are a quorum: no heartbeat round. With five
    /// the leader still confirms with the others.
    @Test func followerReadSkipsTheHeartbeatRoundOnlyWhenTheQuorumIsTwo() throws {
        for voters: [UInt64] in [[1, 2, 3], [1, 2, 3, 4, 5]] {
            var c = RaftTestCluster(voters: voters)
            c.campaign(1)
            try c.propose(1, "w")
            c.deliverAll()
            c.sentLog = []
            try c[2].readIndex(context: [9])
            c.deliverAll()
            #expect(c.reads[2]?.first?.context == [9])
            #expect((c.reads[2]?.first?.index ?? 0) == c[1].commitIndex)
            let heartbeats = c.sentLog.filter { if case .heartbeat = $0.body { true } else { false } }
            #expect(heartbeats.count == (voters.count == 3 ? 0 : voters.count - 1))
        }
    }

    /// Reads arriving at the leader before its next `ready()` share one heartbeat round.
    @Test func leaderReadsInOneTurnShareOneHeartbeatRound() throws {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        try c.propose(1, "w")
        c.deliverAll()
        c.sentLog = []
        for context: UInt8 in 1...5 { try c[1].readIndex(context: [context]) }
        c.deliverAll()
        #expect(c.reads[1]?.map(\.context) == [[1], [2], [3], [4], [5]])
        let heartbeats = c.sentLog.filter { if case .heartbeat = $0.body { true } else { false } }
        #expect(heartbeats.count == 2)
    }

    @Test func newLeaderDefersReadsUntilItCommitsInItsTerm() throws {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.held = [[1, 2], [1, 3]]
        c.campaign(1)
        #expect(c[1].role == .candidate)
        // Let the votes out but keep the leader's appends in.
        c.network = c.heldMessages
        c.heldMessages = []
        c.deliverAll()
        #expect(c[1].role == .leader)
        try c[1].readIndex(context: [7])
        c.drain(1)
        #expect((c.reads[1] ?? []).isEmpty)
        c.releaseHeld()
        c.deliverAll()
        c.tickAll()
        #expect(c.reads[1]?.first?.context == [7])
        #expect(c.reads[1]?.first?.index == 1)
    }

    @Test func inflightWindowBoundsMessagesToASlowFollower() throws {
        var c = RaftTestCluster(voters: [1, 2, 3]) { RaftConfiguration(id: $0, maxInflightAppends: 4) }
        c.campaign(1)
        c.tickAll()
        c.held = [[1, 3]]
        for i in 0..<100 {
            try c.propose(1, "p\(i)")
            c.deliverAll()
        }
        let appends = c.heldMessages.filter {
            if case .append(_, _, _, let es) = $0.body { return !es.isEmpty }
            return false
        }
        #expect(appends.count <= 4)
        c.releaseHeld()
        c.tickAll(times: 5)
        #expect(c.normalData(3).count == 100)
    }

    @Test func appendsAreBatchedByBytes() throws {
        var c = RaftTestCluster(voters: [1, 2]) { RaftConfiguration(id: $0, maxBytesPerAppend: 100) }
        c.campaign(1)
        c.isolate(2)
        for _ in 0..<50 { try c[1].propose(Array(repeating: 1, count: 30)) }
        c.drain(1)
        c.heal()
        c.sentLog = []
        c.tickAll(times: 5)
        var sizes: [Int] = []
        for m in c.sentLog {
            if case .append(_, _, _, let es) = m.body, !es.isEmpty {
                sizes.append(es.count)
                #expect(es.count == 1 || es.reduce(0) { $0 + $1.data.count } <= 100)
            }
        }
        #expect(sizes.contains { $0 > 1 })
        #expect(c[2].commitIndex == c[1].commitIndex)
    }

    @Test func restartKeepsTermVoteAndLog() throws {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(2)
        try c.propose(2, "a")
        c.deliverAll()
        c.tickAll()
        let before = c[1]
        c.restart(1)
        #expect(c[1].term == before.term)
        #expect(c[1].lastIndex == before.lastIndex)
        #expect(c[1].commitIndex == before.commitIndex)
        c.tickAll(times: 2)
        #expect(c.normalData(1) == ["a"])
    }

    @Test func garbageMessagesDoNotBreakANode() {
        var c = RaftTestCluster(voters: [1, 2, 3])
        c.campaign(1)
        var rng = SeededRandom(seed: 3)
        for _ in 0..<2000 {
            if let m = try? RaftMessage(decoding: [RaftWire.version] + rng.bytes(count: rng.int(in: 1...20))) {
                c[2].step(RaftMessage(from: m.from, to: 2, term: m.term, body: m.body))
            }
        }
        #expect(c[2].commitIndex <= c[2].lastIndex)
    }
}
