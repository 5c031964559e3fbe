@testable import Consensus
import Foundation
import Logging
import NIOConcurrencyHelpers
import Testing

@Suite("Consensus node over real TCP and a real WAL", .serialized)
struct ConsensusNodeTests {
    @Test("one node bootstraps, elects itself, writes and reads; a restart keeps the data and the revision")
    func singleNodeRestart() async throws {
        try await TestCluster.with { cluster in
            var node = await cluster.start(1, bootstrap: RaftMembership(voters: [1]))
            #expect(try await cluster.waitForLeader() == 1)
            #expect(try await node.propose(.put(key: "/a", value: value("one"))) == .applied(revision: 1))
            #expect(try await node.propose(.put(key: "/b", value: value("two"))) == .applied(revision: 2))
            #expect(try await node.read { $0.get("/a")?.value } == value("one"))
            let before = node.status()
            #expect(before.role == .leader && before.voters == [1] && before.appliedIndex >= 3)
            // The shape GET /v1/raft serves.
            let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(before)) as? [String: Any]
            #expect(Set(json?.keys.map { $0 } ?? []) == ["id", "role", "term", "leader", "commitIndex", "appliedIndex", "voters", "learners"])
            #expect(json?["role"] as? String == "leader")

            await cluster.stop(1)
            node = await cluster.start(1, bootstrap: RaftMembership(voters: [1]))
            #expect(try await node.read(.stale) { $0.revision } == 2)
            #expect(try await cluster.waitForLeader() == 1)
            #expect(try await node.read { $0.get("/b")?.value } == value("two"))
            #expect(try await node.propose(.put(key: "/a", value: value("three"))) == .applied(revision: 3))
            let kv = try await node.read { $0.get("/a") }
            #expect(kv?.version == 2 && kv?.createRevision == 1 && kv?.modRevision == 3)
        }
    }

    @Test("three bootstrapped voters: follower writes, reads elsewhere, 300 concurrent writes, leader loss and rejoin")
    func threeVoters() async throws {
        try await TestCluster.with { cluster in
            let all = RaftMembership(voters: [1, 2, 3])
            for id: UInt64 in 1...3 { await cluster.start(id, bootstrap: all) }
            let leader = try await cluster.waitForLeader()
            let followers = [UInt64(1), 2, 3].filter { $0 != leader }

            // A write through a follower is answered once that follower applied it...
            let result = try await cluster.node(followers[0]).propose(.put(key: "/x", value: value("via follower")))
            let revision = try #require(result.appliedRevision)
            // ...and a linearizable read on the other follower sees it at once.
            let seen = try await cluster.node(followers[1]).read { $0.get("/x") }
            #expect(seen?.modRevision == revision && seen?.value == value("via follower"))

            // Concurrent proposals from every peer share fsyncs and all get distinct revisions.
            let nodes = (1...3).map { cluster.node(UInt64($0)) }
            let revisions = try await withThrowingTaskGroup(of: UInt64.self) { group in
                for i in 0..<300 {
                    let node = nodes[i % 3]
                    group.addTask {
                        let r = try await node.propose(.put(key: "/c/\(i)", value: value("\(i)")))
                        guard let rev = r.appliedRevision else { throw TestFailure("proposal \(i) gave \(r)") }
                        return rev
                    }
                }
                var all: [UInt64] = []
                for try await r in group { all.append(r) }
                return all
            }
            #expect(revisions.count == 300 && Set(revisions).count == 300)
            #expect(try await cluster.node(leader).read { $0.count(prefix: "/c/") } == 300)

            // Losing the leader elects another; writes continue.
            await cluster.stop(leader)
            let next = try await cluster.waitForLeader()
            #expect(next != leader)
            let after = try await cluster.node(followers[0]).propose(.put(key: "/after", value: value("new leader")))
            #expect(after.appliedRevision != nil)

            // The old leader restarts from its directory and catches up.
            let back = await cluster.start(leader, bootstrap: all)
            let target = try await cluster.node(next).read { $0.revision }
            try await cluster.waitUntil("the restarted peer caught up") {
                (try? await back.read(.stale) { $0.revision }) == target
            }
            #expect(try await back.read { $0.get("/after")?.value } == value("new leader"))
        }
    }

    @Test("a single voter adds two learners, promotes them, and the three serve reads and writes")
    func learnersPromoted() async throws {
        try await TestCluster.with { cluster in
            let first = await cluster.start(1, bootstrap: RaftMembership(voters: [1]))
            _ = try await cluster.waitForLeader()
            _ = try await first.propose(.put(key: "/seed", value: value("before joiners")))
            for id: UInt64 in [2, 3] {
                await cluster.start(id)
                try await first.addLearner(id)
                try await cluster.waitUntil("learner \(id) caught up") { first.isCaughtUp(id) }
                try await first.promote(id)
            }
            #expect(first.status().voters == [1, 2, 3] && first.status().learners == [])
            // Adding a member twice is refused; a non-leader refuses administration.
            await #expect(throws: ConsensusError.invalidMembershipChange) { try await first.addLearner(2) }
            await #expect(throws: ConsensusError.notLeader(leader: 1)) { try await cluster.node(2).addLearner(9) }

            try await cluster.waitUntil("every peer knows the full membership") {
                [UInt64(2), 3].allSatisfy { cluster.node($0).status().voters == [1, 2, 3] }
            }
            let r = try await cluster.node(3).propose(.put(key: "/joined", value: value("hello")))
            let revision = try #require(r.appliedRevision)
            #expect(try await cluster.node(2).read { $0.get("/joined")?.modRevision } == revision)
            #expect(try await cluster.node(2).read { $0.get("/seed")?.value } == value("before joiners"))

            // Hand leadership to 2, then remove 3.
            try await first.transferLeadership(to: 2)
            try await cluster.waitUntil("peer 2 leads") { cluster.node(2).status().role == .leader }
            try await cluster.node(2).removeMember(3)
            #expect(cluster.node(2).status().voters == [1, 2])
        }
    }

    @Test("CAS conflicts come back as values; a cut-off follower answers stale reads but refuses linearizable ones")
    func conflictAndPartition() async throws {
        var settings = TestCluster.fastSettings
        settings.requestTimeout = .seconds(5)
        try await TestCluster.with(settings) { cluster in
            let all = RaftMembership(voters: [1, 2, 3])
            for id: UInt64 in 1...3 { await cluster.start(id, bootstrap: all) }
            let leader = try await cluster.waitForLeader()
            let follower = [UInt64(1), 2, 3].first { $0 != leader }!  // justified: three peers, one leader

            let created = try await cluster.node(follower).propose(.put(key: "/k", value: value("v1"), expectedModRevision: 0))
            let revision = try #require(created.appliedRevision)
            let conflict = try await cluster.node(follower).propose(.put(key: "/k", value: value("v2"), expectedModRevision: revision + 100))
            #expect(conflict == .conflict(key: "/k", currentModRevision: revision))
            let again = try await cluster.node(leader).propose(.put(key: "/k", value: value("v2"), expectedModRevision: 0))
            #expect(again == .conflict(key: "/k", currentModRevision: revision))
            #expect(try await cluster.node(leader).propose(.delete(key: "/missing")) == .notFound(key: "/missing"))

            _ = cluster.cut.withLockedValue { $0.insert(follower) }
            // The majority keeps writing.
            let later = try await cluster.node(leader).propose(.put(key: "/k", value: value("v3")))
            #expect(later.appliedRevision != nil)
            // The cut-off replica still answers a stale read, with what it had.
            #expect(try await cluster.node(follower).read(.stale) { $0.get("/k")?.value } == value("v1"))
            // A linearizable read there must not answer stale data.
            let start = ContinuousClock.now
            do throws(ConsensusError) {
                let v = try await cluster.node(follower).read { $0.get("/k")?.value }
                Issue.record("a partitioned follower answered a linearizable read with \(String(describing: v))")
            } catch {
                #expect(error == .noLeader || error == .timeout)
            }
            #expect(ContinuousClock.now - start < .seconds(7))
            // Nor does it accept writes it cannot get committed.
            await #expect(throws: ConsensusError.noLeader) { _ = try await cluster.node(follower).propose(.put(key: "/k", value: [])) }
            // Healed, it catches up and serves linearizable reads again.
            cluster.cut.withLockedValue { $0.removeAll() }
            try await cluster.waitUntil("the healed follower serves linearizable reads", timeout: .seconds(20)) {
                (try? await cluster.node(follower).read { $0.get("/k")?.value }) == value("v3")
            }
        }
    }

    @Test("a peer that missed many writes catches up through InstallSnapshot")
    func snapshotCatchUp() async throws {
        var settings = TestCluster.fastSettings
        settings.snapshotThreshold = 25
        try await TestCluster.with(settings) { cluster in
            let all = RaftMembership(voters: [1, 2, 3])
            for id: UInt64 in 1...3 { await cluster.start(id, bootstrap: all) }
            let leader = try await cluster.waitForLeader()
            let lagging = [UInt64(1), 2, 3].first { $0 != leader }!  // justified: three peers, one leader
            _ = try await cluster.node(leader).propose(.put(key: "/early", value: value("e")))
            try await cluster.waitUntil("the lagging peer applied the first write") {
                (try? await cluster.node(lagging).read(.stale) { $0.get("/early") }) != nil
            }
            let stoppedAt = cluster.node(lagging).status().appliedIndex
            await cluster.stop(lagging)

            let writer = cluster.node(leader)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<200 {
                    group.addTask {
                        // A put is idempotent here: one caught in a leader change (a starved machine) goes again.
                        for attempt in 1...5 {
                            do {
                                _ = try await writer.propose(.put(key: "/bulk/\(i)", value: value("\(i)")))
                                return
                            } catch ConsensusError.leaderChanged where attempt < 5 {
                                continue
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            // The leader compacted past where the lagging peer stopped, so only a snapshot can help it.
            try await cluster.waitUntil("the leader compacted its log") {
                (Self.newestSnapshotIndex(in: cluster.directory(leader) + "/raft/snap") ?? 0) > stoppedAt + 25
            }

            let back = await cluster.start(lagging, bootstrap: all)
            let target = try await writer.read { $0.revision }
            try await cluster.waitUntil("the lagging peer caught up") {
                (try? await back.read(.stale) { $0.revision }) ?? 0 >= target
            }
            #expect(try await back.read(.stale) { $0.count(prefix: "/bulk/") } == 200)
            #expect(try await back.read { $0.get("/early")?.value } == value("e"))
        }
    }

    @Test("a store larger than the transport's 16 MiB frame limit reaches a lagging peer in chunks, identical")
    func largeSnapshotInChunks() async throws {
        var settings = TestCluster.fastSettings
        settings.tickInterval = .milliseconds(50)
        settings.requestTimeout = .seconds(30)
        // The production chunk size (4 MiB): only the store's size differs from a real cluster's.
        #expect(settings.frameChunkBytes == ConsensusSettings().frameChunkBytes)
        settings.snapshotThreshold = 20
        try await TestCluster.with(settings) { cluster in
            let all = RaftMembership(voters: [1, 2, 3])
            for id: UInt64 in 1...3 { await cluster.start(id, bootstrap: all) }
            let leader = try await cluster.waitForLeader()
            let lagging = [UInt64(1), 2, 3].first { $0 != leader }!  // justified: three peers, one leader
            let live = [UInt64(1), 2, 3].filter { $0 != lagging }
            await cluster.stop(lagging)

            // 24 distinct values of 1 MiB: the snapshot at index 20 or later holds more than 17 MiB. A put
            // is idempotent here, so one that failed in a leader change is simply sent again.
            let writer = cluster.node(leader)
            for i in 0..<24 {
                let big = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &* 7) }
                try await cluster.waitUntil("put \(i) committed", timeout: .seconds(60)) {
                    (try? await writer.propose(.put(key: "/big/\(i)", value: big)))?.appliedRevision != nil
                }
            }
            try await cluster.waitUntil("a live peer compacted past the lagging one", timeout: .seconds(60)) {
                live.contains { (Self.newestSnapshotIndex(in: cluster.directory($0) + "/raft/snap") ?? 0) >= 20 }
            }
            let snapshotBytes = try await writer.read(.stale) { $0.snapshot().count }
            #expect(snapshotBytes > RaftTransport.maximumFrameLength)

            let back = await cluster.start(lagging, bootstrap: all)
            let target = try await writer.read(.stale) { $0.revision }
            try await cluster.waitUntil("the lagging peer installed the snapshot", timeout: .seconds(90)) {
                (try? await back.read(.stale) { $0.revision }) ?? 0 >= target
            }
            // It came as a snapshot (the log it needed is compacted away), and it holds what the leader holds.
            #expect((Self.newestSnapshotIndex(in: cluster.directory(lagging) + "/raft/snap") ?? 0) >= 20)
            let theirs = try await back.read(.stale) { store in (store.revision, try? store.range(prefix: "/").items) }
            let ours = try await writer.read(.stale) { store in (store.revision, try? store.range(prefix: "/").items) }
            #expect(theirs.0 == ours.0)
            #expect(theirs.1?.count == 24)
            #expect(theirs.1 == ours.1)
        }
    }

    @Test("a write forwarded to a leader that loses its leadership fails at once with leaderChanged")
    func forwardedWriteFailsFastOnLeaderChange() async throws {
        var settings = TestCluster.fastSettings
        settings.requestTimeout = .seconds(20)
        try await TestCluster.with(settings) { cluster in
            let all = RaftMembership(voters: [1, 2, 3])
            for id: UInt64 in 1...3 { await cluster.start(id, bootstrap: all) }
            let leader = try await cluster.waitForLeader()
            let follower = [UInt64(1), 2, 3].first { $0 != leader }!  // justified: three peers, one leader
            _ = try await cluster.node(follower).propose(.put(key: "/warm", value: value("w")))

            // The leader is cut off: the forwarded write never commits there, and the other two elect anew.
            _ = cluster.cut.withLockedValue { $0.insert(leader) }
            let start = ContinuousClock.now
            do throws(ConsensusError) {
                let result = try await cluster.node(follower).propose(.put(key: "/lost", value: value("x")))
                Issue.record("a write sent to a cut-off leader was answered: \(result)")
            } catch {
                #expect(error == .leaderChanged)
            }
            #expect(ContinuousClock.now - start < .seconds(5), "failed fast, not at the 20 s request timeout")
            cluster.cut.withLockedValue { $0.removeAll() }
            // The cluster carries on.
            try await cluster.waitUntil("the healed cluster takes writes", timeout: .seconds(20)) {
                (try? await cluster.node(follower).propose(.put(key: "/after", value: value("a"))))?.appliedRevision != nil
            }
        }
    }

    @Test("role waiters wake on an election, on a cut-off leader stepping down, on cancellation and on stop", .timeLimit(.minutes(1)))
    func roleChangeWaiters() async throws {
        try await TestCluster.with { cluster in
            let all = RaftMembership(voters: [1, 2, 3])
            for id: UInt64 in 1...3 { await cluster.start(id, bootstrap: all) }
            let first = cluster.node(1).status()
            let elected = Task { await cluster.node(1).waitForRoleChange(from: first.role, term: first.term) }
            let leader = try await cluster.waitForLeader()
            let seen = await elected.value
            #expect(seen.role != first.role || seen.term != first.term, "woke on the election: \(seen)")

            // The leader, cut off, steps down (check-quorum); a follower sees the next term.
            let term = cluster.node(leader).status().term
            let follower = [UInt64(1), 2, 3].first { $0 != leader }!  // justified: three peers, one leader
            let stepDown = Task { await cluster.node(leader).waitForRoleChange(from: .leader, term: term) }
            let nextTerm = Task { await cluster.node(follower).waitForRoleChange(from: .follower, term: term) }
            _ = cluster.cut.withLockedValue { $0.insert(leader) }
            let deposed = await stepDown.value
            #expect(deposed.role != .leader || deposed.term > term, "\(deposed)")
            #expect(await nextTerm.value.term > term)
            cluster.cut.withLockedValue { $0.removeAll() }

            // Nothing changes: cancelling the waiter returns the status as it is; stopping the node releases one.
            let now = cluster.node(follower).status()
            let cancelled = Task { await cluster.node(follower).waitForRoleChange(from: now.role, term: now.term) }
            try await Task.sleep(for: .milliseconds(50))
            cancelled.cancel()
            _ = await cancelled.value
            let current = cluster.node(leader).status()
            let released = Task { await cluster.node(leader).waitForRoleChange(from: current.role, term: current.term) }
            try await Task.sleep(for: .milliseconds(50))
            await cluster.stop(leader)
            _ = await released.value
        }
    }

    @Test("chunked frames reassemble in order; lost or foreign pieces drop the frame, never crash")
    func frameChunks() throws {
        let frame = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let pieces = ConsensusFrame.split(frame, id: 9, limit: 3_000)
        #expect(pieces.count == 4)
        #expect(ConsensusFrame.split(frame, id: 9, limit: 10_000) == [frame])
        let chunks = try pieces.map { bytes throws -> FrameChunk in
            guard case .chunk(let c) = try ConsensusFrame(decoding: bytes) else { throw TestFailure("not a chunk") }
            return c
        }
        var assembler = FrameAssembler()
        #expect(chunks.dropLast().allSatisfy { assembler.add($0, from: 1) == nil })
        #expect(assembler.add(chunks[3], from: 1) == frame)
        // A lost piece: the rest of that frame is ignored, and the next frame starts clean.
        #expect(assembler.add(chunks[0], from: 1) == nil)
        #expect(assembler.add(chunks[2], from: 1) == nil)
        #expect(assembler.add(chunks[3], from: 1) == nil)
        // Interleaved senders do not mix.
        for c in chunks.dropLast() {
            #expect(assembler.add(c, from: 2) == nil)
            #expect(assembler.add(c, from: 3) == nil)
        }
        #expect(assembler.add(chunks[3], from: 3) == frame)
        #expect(assembler.add(chunks[3], from: 2) == frame)
        // A piece that overruns its frame, or claims an absurd size, is dropped.
        #expect(assembler.add(FrameChunk(id: 1, offset: 0, total: 2, bytes: [1, 2, 3]), from: 4) == nil)
        #expect(assembler.add(FrameChunk(id: 1, offset: 0, total: UInt64.max, bytes: [1]), from: 4) == nil)
        for cut in 0..<pieces[1].count { #expect(throws: RaftCodecError.self) { try ConsensusFrame(decoding: Array(pieces[1][..<cut])) } }
    }

    @Test("a peer that never saw a leader fails fast with noLeader; watchers wake on new revisions")
    func noLeaderAndWatch() async throws {
        try await TestCluster.with { cluster in
            let orphan = await cluster.start(7)  // joining, never added
            try await cluster.waitUntil("the orphan gives up on a leader") {
                do throws(ConsensusError) {
                    _ = try await orphan.propose(.put(key: "/x", value: []))
                    return false
                } catch {
                    return error == .noLeader
                }
            }
            await #expect(throws: ConsensusError.noLeader) { try await orphan.read { $0.revision } }
            #expect(try await orphan.read(.stale) { $0.revision } == 0)
            await cluster.stop(7)

            let node = await cluster.start(1, bootstrap: RaftMembership(voters: [1]))
            _ = try await cluster.waitForLeader()
            let watcher = Task { try await node.waitForRevision(after: 0) }
            let watchers = (0..<50).map { _ in Task { try await node.waitForRevision(after: 1) } }
            _ = try await node.propose(.put(key: "/w", value: value("1")))
            #expect(try await watcher.value == 1)
            _ = try await node.propose(.put(key: "/w", value: value("2")))
            for w in watchers { #expect(try await w.value >= 2) }
            let events = try await node.read(.stale) { store in Result { () throws(StoreReadError) in try store.events(after: 0, matching: .key("/w")) } }.get()
            #expect(events.events.map(\.revision) == [1, 2])
            // A cancelled watcher returns instead of hanging.
            let idle = Task { try await node.waitForRevision(after: 1_000) }
            idle.cancel()
            #expect(try await idle.value == 2)
            await cluster.stop(1)
            await #expect(throws: ConsensusError.stopped) { _ = try await node.propose(.put(key: "/late", value: [])) }
        }
    }

    @Test("a log that cannot be written stops the node loudly instead of answering")
    func storageFailureStops() async throws {
        try await TestCluster.with { cluster in
            let failing = NIOLockedValueBox(false)
            let node = await cluster.start(1, bootstrap: RaftMembership(voters: [1]), fileSystem: { FailingFileSystem(failing: failing) })
            _ = try await cluster.waitForLeader()
            #expect(try await node.propose(.put(key: "/ok", value: [1])).appliedRevision == 1)
            failing.withLockedValue { $0 = true }
            await #expect(throws: ConsensusError.self) { _ = try await node.propose(.put(key: "/lost", value: [2])) }
            let loop = try #require(cluster.loop(1))
            do {
                try await loop.value
                Issue.record("run() returned normally after the log failed")
            } catch let error as ConsensusError {
                guard case .storage = error else {
                    Issue.record("run() threw \(error) instead of a storage error")
                    return
                }
            }
            await #expect(throws: ConsensusError.stopped) { _ = try await node.propose(.put(key: "/after", value: [3])) }
            // A stopped node no longer serves even stale reads: its data will never catch up.
            await #expect(throws: ConsensusError.stopped) { _ = try await node.read(.stale) { $0.get("/lost") } }
            #expect(node.storeBox.withLockedValue { $0.get("/lost") } == nil)
        }
    }

    @Test("consensus frames and proposal envelopes survive garbage and truncation")
    func wireGarbage() throws {
        let envelope = ProposalEnvelope.encode(ProposalID(origin: 3, nonce: 0xDEAD_BEEF, sequence: 42), command: StoreCommand.put(key: "/k", value: [1, 2]).encoded())
        let (pid, command) = try ProposalEnvelope.decode(envelope)
        #expect(pid == ProposalID(origin: 3, nonce: 0xDEAD_BEEF, sequence: 42))
        #expect(try StoreCommand(decoding: command) == .put(key: "/k", value: [1, 2]))
        let frames: [ConsensusFrame] = [
            .forward([envelope, [], envelope]),
            .raft(RaftMessage(from: 1, to: 2, term: 9, body: .append(prevIndex: 4, prevTerm: 3, commit: 4, entries: [RaftEntry(term: 9, index: 5, data: envelope)]))),
        ]
        for frame in frames {
            let bytes = frame.encode()
            #expect(try ConsensusFrame(decoding: bytes) == frame)
            for cut in 0..<bytes.count { #expect(throws: RaftCodecError.self) { try ConsensusFrame(decoding: Array(bytes[..<cut])) } }
        }
        for cut in 0..<envelope.count { #expect(throws: RaftCodecError.self) { try ProposalEnvelope.decode(Array(envelope[..<cut])) } }
        var rng = ConsensusRandom(seed: 7)
        for _ in 0..<2_000 {
            let garbage = (0..<Int.random(in: 0..<64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? ConsensusFrame(decoding: garbage)
            _ = try? ConsensusFrame(decoding: [1, 2] + garbage)
            _ = try? ProposalEnvelope.decode([1] + garbage)
        }
        #expect(throws: RaftCodecError.unsupportedVersion(9)) { try ConsensusFrame(decoding: [9, 1]) }
        #expect(throws: RaftCodecError.unknownTag(77)) { try ConsensusFrame(decoding: [1, 77]) }
    }

    static func largestFile(in directory: String) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { name in
            ((try? FileManager.default.attributesOfItem(atPath: directory + "/" + name))?[.size] as? NSNumber)?.intValue
        }.max() ?? 0
    }

    static func newestSnapshotIndex(in directory: String) -> UInt64? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".snap") }.compactMap { name -> UInt64? in
            let parts = name.dropLast(5).split(separator: "-")
            guard parts.count == 2 else { return nil }
            return UInt64(parts[1], radix: 16)
        }.max()
    }
}
