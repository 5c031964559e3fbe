import Consensus
import Testing
import Simulation

/// A synchronous in-memory harness for Raft unit tests: a FIFO network with blockable links and
/// a per-node "disk" that follows the Ready contract (persist, then send, then apply, then advance).
struct RaftTestCluster {
    var nodes: [UInt64: RaftNode] = [:]
    var stored: [UInt64: RaftPersistentState] = [:]
    var bootstrap: [UInt64: RaftMembership] = [:]
    /// Normal and config entries applied by each node, by index (snapshots reset this to their index).
    var applied: [UInt64: [UInt64: RaftEntry]] = [:]
    var snapshotsInstalled: [UInt64: Int] = [:]
    var reads: [UInt64: [RaftReadState]] = [:]
    var network: [RaftMessage] = []
    /// Messages on these links are dropped.
    var blocked: Set<[UInt64]> = []
    /// Messages on these links wait here until released.
    var held: Set<[UInt64]> = []
    var heldMessages: [RaftMessage] = []
    var sentLog: [RaftMessage] = []
    var leaderOfTerm: [UInt64: UInt64] = [:]
    var rng = SeededRandom(seed: 42)
    var configure: @Sendable (UInt64) -> RaftConfiguration

    init(voters: [UInt64], configure: @escaping @Sendable (UInt64) -> RaftConfiguration = { RaftConfiguration(id: $0) }) {
        self.configure = configure
        let m = RaftMembership(voters: voters)
        for id in voters { add(id, bootstrap: m) }
    }

    mutating func add(_ id: UInt64, bootstrap m: RaftMembership, state: RaftPersistentState = RaftPersistentState()) {
        bootstrap[id] = m
        stored[id] = state
        nodes[id] = RaftNode(configuration: configure(id), bootstrap: m, restoring: state)
        applied[id] = [:]
    }

    subscript(id: UInt64) -> RaftNode {
        get { nodes[id]! }
        set { nodes[id] = newValue }
    }

    var leaders: [UInt64] { nodes.keys.sorted().filter { nodes[$0]!.role == .leader } }

    mutating func isolate(_ id: UInt64) {
        for other in nodes.keys where other != id {
            blocked.insert([id, other])
            blocked.insert([other, id])
        }
    }

    mutating func heal() { blocked = [] }

    mutating func drain(_ id: UInt64) {
        guard var node = nodes[id] else { return }
        while node.hasReady {
            let rd = node.ready()
            var st = stored[id] ?? RaftPersistentState()
            if let s = rd.snapshot {
                st.snapshot = s
                st.entries = []
                applied[id] = [:]
                snapshotsInstalled[id, default: 0] += 1
            }
            if let t = rd.truncateFrom { st.entries.removeAll { $0.index >= t } }
            st.entries.append(contentsOf: rd.entries)
            if let h = rd.hardState { st.hardState = h }
            stored[id] = st
            if let soft = rd.softState, soft.role == .leader {
                if let prior = leaderOfTerm[node.term], prior != id {
                    Issue.record("two leaders in term \(node.term): \(prior) and \(id)")
                }
                leaderOfTerm[node.term] = id
            }
            for m in rd.messages {
                sentLog.append(m)
                if held.contains([m.from, m.to]) { heldMessages.append(m) } else { network.append(m) }
            }
            for e in rd.committedEntries { applied[id, default: [:]][e.index] = e }
            reads[id, default: []].append(contentsOf: rd.readStates)
            node.advance()
        }
        nodes[id] = node
    }

    mutating func drainAll() {
        for id in nodes.keys.sorted() { drain(id) }
    }

    mutating func deliver(_ m: RaftMessage) {
        guard !blocked.contains([m.from, m.to]), nodes[m.to] != nil else { return }
        nodes[m.to]!.step(m)
        drain(m.to)
    }

    /// Delivers until the network is quiet (bounded, so a livelock fails instead of hanging).
    mutating func deliverAll(limit: Int = 100_000) {
        drainAll()
        var n = 0
        while !network.isEmpty && n < limit {
            let m = network.removeFirst()
            deliver(m)
            n += 1
        }
    }

    mutating func releaseHeld() {
        held = []
        network.append(contentsOf: heldMessages)
        heldMessages = []
    }

    mutating func tick(_ id: UInt64, times: Int = 1) {
        for _ in 0..<times {
            nodes[id]!.tick(using: &rng)
            drain(id)
            deliverAll()
        }
    }

    mutating func tickAll(times: Int = 1) {
        for _ in 0..<times {
            for id in nodes.keys.sorted() { nodes[id]!.tick(using: &rng); drain(id) }
            deliverAll()
        }
    }

    /// Makes `id` campaign at once (skipping pre-vote), as a leadership transfer would.
    mutating func campaign(_ id: UInt64) {
        let node = nodes[id]!
        let other = node.membership.voters.first { $0 != id } ?? (id &+ 1000)
        nodes[id]!.step(RaftMessage(from: other, to: id, term: node.term, body: .timeoutNow))
        drain(id)
        deliverAll()
    }

    mutating func propose(_ id: UInt64, _ text: String) throws {
        try nodes[id]!.propose(Array(text.utf8))
        drain(id)
    }

    /// Restarts `id` from what it persisted; volatile state is gone.
    mutating func restart(_ id: UInt64) {
        let st = stored[id] ?? RaftPersistentState()
        nodes[id] = RaftNode(configuration: configure(id), bootstrap: bootstrap[id] ?? .empty, restoring: st)
        applied[id] = [:]
    }

    func normalData(_ id: UInt64) -> [String] {
        (applied[id] ?? [:]).keys.sorted().compactMap { i in
            let e = applied[id]![i]!
            return e.kind == .normal ? String(decoding: e.data, as: UTF8.self) : nil
        }
    }

    /// (index, term) of every entry a node holds in memory after its snapshot.
    func logTerms(_ id: UInt64) -> [UInt64] {
        let n = nodes[id]!
        guard n.lastIndex > n.snapshotIndex else { return [] }
        return ((n.snapshotIndex + 1)...n.lastIndex).map { n.term(at: $0) ?? 0 }
    }
}
