import Consensus
import Foundation  // ProcessInfo, for RAFT_SIM_VERBOSE / RAFT_SIM_DEBUG
import Simulation
import Testing

/// Randomized whole-cluster runs: partitions, crashes that lose unsynced writes, loss, duplication,
/// reordering, leadership transfers, compaction; clients doing put/get/CAS through any node.
/// Election safety and leader completeness are checked at every role change, state machine safety at
/// every apply, log matching every few hundred events; linearizability of the client history at the end.
/// `SIM_SEEDS=N` runs more seeds, `SIM_SEED=n` replays one.
@Suite struct RaftSimulationTests {
    @Test func threeVoters() throws {
        let stats = try runSeeds(defaultCount: 200, nodes: 3, testName: "RaftSimulationTests/threeVoters")
        #expect(stats.completedOps > 0)
    }

    @Test func fiveVoters() throws {
        let stats = try runSeeds(defaultCount: 150, nodes: 5, testName: "RaftSimulationTests/fiveVoters")
        #expect(stats.completedOps > 0)
    }

    /// Three initial voters and two outsiders; the leader adds learners, promotes and removes members.
    @Test func membershipChanges() throws {
        let stats = try runSeeds(defaultCount: 150, nodes: 5, initialVoters: 3, membershipChanges: true,
                                 testName: "RaftSimulationTests/membershipChanges")
        #expect(stats.completedOps > 0)
        #expect(stats.configChanges > 0)
    }

    @Test func sameSeedSameRun() throws {
        var a = RaftSim(seed: 99, nodes: 3)
        var b = RaftSim(seed: 99, nodes: 3)
        try a.run()
        try b.run()
        #expect(a.sim.trace == b.sim.trace)
        #expect(a.history.count == b.history.count)
    }

    struct Totals {
        var completedOps = 0
        var elections = 0
        var crashes = 0
        var events = 0
        var indeterminate = 0
        var configChanges = 0
        var configCommitted = 0
    }

    func runSeeds(defaultCount: Int, nodes: Int, initialVoters: Int? = nil, membershipChanges: Bool = false,
                  testName: String) throws -> Totals {
        var totals = Totals()
        try forEachSeed(defaultCount: defaultCount, testName: testName) { seed in
            var run = RaftSim(seed: seed, nodes: nodes, initialVoters: initialVoters, membershipChanges: membershipChanges)
            try run.run()
            totals.completedOps += run.history.filter { $0.response != nil }.count
            totals.elections += run.leaderOfTerm.count
            totals.crashes += run.sim.stats.crashes
            totals.events += run.events
            totals.configChanges += run.configChangesProposed
            totals.configCommitted += run.committed.values.filter { $0.kind == .configChange }.count
            totals.indeterminate += run.history.filter { $0.response == nil && $0.input.kind != .get }.count
        }
        if ProcessInfo.processInfo.environment["RAFT_SIM_VERBOSE"] != nil {
            print("raft sim \(nodes) nodes, changes \(membershipChanges): ops \(totals.completedOps) elections \(totals.elections) crashes \(totals.crashes) events \(totals.events) indeterminate \(totals.indeterminate) config changes \(totals.configChanges) committed \(totals.configCommitted)")
        }
        return totals
    }
}

/// One simulated cluster plus clients; the test loop is the "shell" of every node.
struct RaftSim {
    static let tickInterval: Duration = .milliseconds(10)
    static let faultPhase: Duration = .milliseconds(1400)
    static let runLength: Duration = .milliseconds(2800)
    static let clientTimeout: Duration = .milliseconds(250)
    static let clients = 3

    // Timer tags per node.
    static let tickTag = 0
    static let syncTag = 1
    // Control tags.
    static let faultTag = 1
    static let healTag = 2
    static let clientTagBase = 100
    static let timeoutTagBase = 200

    let nodeCount: Int
    let initialVoters: Int
    let membershipChanges: Bool
    let sim: Simulation<[UInt8]>
    var rng: SeededRandom
    var nodes: [RaftNode?]
    var storages: [SimRaftStorage]
    var machines: [KVStateMachine]
    /// The Ready each node is waiting to fsync (the shell handles one at a time).
    var inFlight: [RaftReady?]
    /// The term each node has on disk: a leader's appends may leave before its own fsync only in it.
    var durableTerm: [UInt64]
    /// Per node: client op ids waiting for that node's apply or read, to answer them.
    var waiting: [[UInt64: Int]]

    var history: [HistoryOperation<KVCommand, UInt64>] = []
    var clientState: [ClientState]
    var nextOpID: UInt64 = 1

    // Safety bookkeeping.
    var leaderOfTerm: [UInt64: UInt64] = [:]
    var committed: [UInt64: RaftEntry] = [:]
    var events = 0
    var configChangesProposed = 0
    /// RAFT_SIM_DEBUG=1 prints every Raft message sent and delivered (use with SIM_SEED=n).
    let debug = ProcessInfo.processInfo.environment["RAFT_SIM_DEBUG"] != nil

    struct ClientState {
        var current: Int?  // index into history
        var deadline: Duration = .zero
        var nextAt: Duration = .zero
        var hint: Int?
        var lastSeen = [UInt64](repeating: 0, count: KVStateMachine.keys)
    }

    init(seed: UInt64, nodes count: Int, initialVoters: Int? = nil, membershipChanges: Bool = false) {
        self.nodeCount = count
        self.initialVoters = initialVoters ?? count
        self.membershipChanges = membershipChanges
        var r = SeededRandom(seed: seed)
        let faults = NetworkFaults(loss: r.double(in: 0..<0.1), duplication: r.double(in: 0..<0.05),
                                   delay: .milliseconds(1) ... .milliseconds(Int64(r.int(in: 2...30))))
        let s = Simulation<[UInt8]>(seed: r.next(), nodes: nodeCount, network: faults)
        s.tornWriteProbability = 0.5
        sim = s
        rng = r.split()
        nodes = Array(repeating: nil, count: nodeCount)
        storages = (0..<nodeCount).map { SimRaftStorage(disk: s.disk($0)) }
        machines = Array(repeating: KVStateMachine(), count: nodeCount)
        inFlight = Array(repeating: nil, count: nodeCount)
        durableTerm = Array(repeating: 0, count: nodeCount)
        waiting = Array(repeating: [:], count: nodeCount)
        clientState = Array(repeating: ClientState(), count: Self.clients)
    }

    static func raftID(_ n: Int) -> UInt64 { UInt64(n + 1) }
    static func simIndex(_ id: UInt64) -> Int { Int(id) - 1 }

    /// Nodes beyond the initial voters start outside the cluster and may be added as learners.
    func bootstrap(_ n: Int) -> RaftMembership {
        n < initialVoters ? RaftMembership(voters: (0..<initialVoters).map(Self.raftID)) : .empty
    }

    func configuration(_ n: Int) -> RaftConfiguration {
        RaftConfiguration(id: Self.raftID(n), electionTicks: 10, heartbeatTicks: 2,
                          maxBytesPerAppend: 512, maxInflightAppends: 8, learnerHeartbeatRounds: 3)
    }

    mutating func start(_ n: Int) throws {
        let state = try storages[n].load()
        durableTerm[n] = state.hardState.term
        nodes[n] = RaftNode(configuration: configuration(n), bootstrap: bootstrap(n), restoring: state)
        var sm = KVStateMachine()
        if let s = state.snapshot {
            sm = try #require(KVStateMachine(decoding: s.data))
        }
        machines[n] = sm
        inFlight[n] = nil
        waiting[n] = [:]
        sim.setTimer(n, tag: Self.tickTag, after: Self.tickInterval)
    }

    mutating func run() throws {
        for n in 0..<nodeCount { try start(n) }
        for c in 0..<Self.clients {
            sim.scheduleControl(tag: Self.clientTagBase + c, after: .milliseconds(Int64(rng.int(in: 50...150))))
        }
        sim.scheduleControl(tag: Self.faultTag, after: .milliseconds(Int64(rng.int(in: 50...300))))
        sim.scheduleControl(tag: Self.healTag, at: Self.faultPhase)
        while let event = sim.step(until: Self.runLength) {
            events += 1
            switch event {
            case let .deliver(_, to, bytes):
                guard sim.isUp(to), nodes[to] != nil else { break }
                let m = try RaftMessage(decoding: bytes)
                if debug { print("\(sim.now) deliver \(m)") }
                nodes[to]!.step(m)
                try pump(to)
            case let .timer(n, tag):
                guard sim.isUp(n) else { break }
                if tag == Self.tickTag {
                    nodes[n]!.tick(using: &rng)
                    sim.setTimer(n, tag: Self.tickTag, after: Self.tickInterval)
                    try pump(n)
                } else if tag == Self.syncTag {
                    try completeSync(n)
                }
            case let .control(tag):
                if tag == Self.faultTag && sim.now < Self.faultPhase {
                    try injectFault()
                    sim.scheduleControl(tag: Self.faultTag, after: .milliseconds(Int64(rng.int(in: 50...300))))
                } else if tag == Self.healTag {
                    sim.heal()
                    for n in 0..<nodeCount where !sim.isUp(n) {
                        sim.restart(n)
                        try start(n)
                    }
                } else if tag >= Self.timeoutTagBase {
                    timeOut(client: tag - Self.timeoutTagBase)
                } else if tag >= Self.clientTagBase {
                    try clientStep(tag - Self.clientTagBase)
                }
            }
            if events % 500 == 0 { try checkLogMatching() }
        }
        let settled = UInt64((Self.faultPhase + .milliseconds(400)).nanosecondsClamped)
        let successAfterHeal = history.filter { ($0.response ?? 0) > settled }.count
        try checkLogMatching()
        try simCheck(successAfterHeal > 0, "no client operation completed after the network healed: \(summary())")
        let verdict = LinearizabilityChecker(model: RaftKVModel()).check(history)
        try simCheck(verdict == .linearizable, "client history of \(history.count) ops: \(verdict)")
    }

    func summary() -> String {
        (0..<nodeCount).map { n in
            guard let x = nodes[n] else { return "\(n + 1): down" }
            return "\(x.id): \(x.role) t\(x.term) lead \(x.leader) commit \(x.commitIndex) applied \(x.appliedIndex) last \(x.lastIndex)/\(x.lastTerm) snap \(x.snapshotIndex) inflight \(inFlight[n] != nil) voters \(x.membership.voters) learners \(x.membership.learners)"
        }.joined(separator: "; ")
    }

    // MARK: - The shell

    /// Starts handling the next Ready if the node is not already waiting for an fsync.
    mutating func pump(_ n: Int) throws {
        guard inFlight[n] == nil, nodes[n]?.hasReady == true else { return }
        var rd = nodes[n]!.ready()
        try checkReadyInvariants(n, rd)
        // As the production shell does: a leader's appends leave before its own write is durable.
        var later: [RaftMessage] = []
        for m in rd.messages {
            switch m.body {
            case .append, .heartbeat, .installSnapshot:
                if m.term == durableTerm[n] {
                    sim.send(from: n, to: Self.simIndex(m.to), m.encode())
                } else {
                    later.append(m)
                }
            default:
                later.append(m)
            }
        }
        rd.messages = later
        try storages[n].write(rd)
        inFlight[n] = rd
        if rd.mustPersist {
            sim.setTimer(n, tag: Self.syncTag, after: .microseconds(Int64(rng.int(in: 200...3000))))
        } else {
            try completeSync(n)
        }
    }

    mutating func completeSync(_ n: Int) throws {
        guard let rd = inFlight[n] else { return }
        try storages[n].sync(rd)
        if let hs = rd.hardState { durableTerm[n] = hs.term }
        for m in rd.messages {
            if debug { print("\(sim.now) send \(m)") }
            sim.send(from: n, to: Self.simIndex(m.to), m.encode())
        }
        if let s = rd.snapshot {
            machines[n] = try #require(KVStateMachine(decoding: s.data))
        }
        for e in rd.committedEntries {
            try recordCommitted(n, e)
            guard e.kind == .normal else { continue }
            let cmd = try #require(KVCommand(decoding: e.data))
            let out = machines[n].apply(cmd)
            if let op = waiting[n].removeValue(forKey: cmd.opID) { respond(op, output: out) }
        }
        for r in rd.readStates {
            let cmd = try #require(KVCommand(decoding: r.context))
            try simCheck(r.index <= nodes[n]!.appliedIndex || r.index <= lastApplied(n, rd), "read served before apply")
            let out = machines[n].apply(cmd)
            if let op = waiting[n].removeValue(forKey: cmd.opID) { respond(op, output: out) }
        }
        inFlight[n] = nil
        nodes[n]!.advance()
        try maybeCompact(n)
        try pump(n)
    }

    func lastApplied(_ n: Int, _ rd: RaftReady) -> UInt64 {
        rd.committedEntries.last?.index ?? rd.snapshot?.index ?? 0
    }

    mutating func maybeCompact(_ n: Int) throws {
        guard let node = nodes[n], node.appliedIndex >= node.snapshotIndex + 40, rng.chance(0.5) else { return }
        let snap = try nodes[n]!.compact(through: node.appliedIndex, data: machines[n].encode())
        try storages[n].saveSnapshot(snap)
    }

    // MARK: - Safety checks

    mutating func checkReadyInvariants(_ n: Int, _ rd: RaftReady) throws {
        let node = nodes[n]!
        if let soft = rd.softState, soft.role == .leader {
            if let prior = leaderOfTerm[node.term] {
                try simCheck(prior == node.id, "election safety: \(prior) and \(node.id) both lead term \(node.term)")
            }
            leaderOfTerm[node.term] = node.id
            // Leader completeness: every entry known committed is in the new leader's log.
            for (i, e) in committed where i > node.snapshotIndex {
                try simCheck(node.term(at: i) == e.term,
                             "leader completeness: leader \(node.id) term \(node.term) lacks committed \(i)/\(e.term)")
            }
        }
    }

    mutating func recordCommitted(_ n: Int, _ e: RaftEntry) throws {
        if let prior = committed[e.index] {
            try simCheck(prior == e, "state machine safety: node \(n + 1) applies \(e.term)@\(e.index), another applied \(prior.term)")
        } else {
            committed[e.index] = e
        }
    }

    /// If two logs hold an entry with the same index and term, they agree on everything before it.
    func checkLogMatching() throws {
        let live = (0..<nodeCount).compactMap { nodes[$0] }
        for a in 0..<live.count {
            for b in (a + 1)..<max(a + 1, live.count) {
                let x = live[a]
                let y = live[b]
                let lo = max(x.snapshotIndex, y.snapshotIndex) + 1
                let hi = min(x.lastIndex, y.lastIndex)
                guard lo <= hi else { continue }
                var top: UInt64 = 0
                for i in stride(from: hi, through: lo, by: -1) where x.term(at: i) == y.term(at: i) {
                    top = i
                    break
                }
                guard top >= lo else { continue }
                for i in lo...top {
                    try simCheck(x.entry(at: i) == y.entry(at: i), "log matching: \(x.id) and \(y.id) differ at \(i) below \(top)")
                }
            }
        }
    }

    // MARK: - Faults

    mutating func injectFault() throws {
        let all = Array(0..<nodeCount)
        switch rng.int(in: 0..<12) {
        case 0, 1:
            let shuffled = rng.shuffled(all)
            let cut = rng.int(in: 1..<nodeCount)
            sim.partition([Array(shuffled[..<cut]), Array(shuffled[cut...])])
        case 2:
            sim.isolate(rng.int(in: 0..<nodeCount))
        case 3, 4:
            sim.heal()
        case 5, 6:
            // Crash one node; unsynced writes are lost or torn.
            let up = sim.upNodes
            if up.count > 1, let victim = rng.element(of: up) {
                sim.crash(victim)
                nodes[victim] = nil
                inFlight[victim] = nil
                waiting[victim] = [:]
            }
        case 7:
            for n in 0..<nodeCount where !sim.isUp(n) {
                sim.restart(n)
                try start(n)
            }
        case 8:
            if let l = (0..<nodeCount).first(where: { nodes[$0]?.role == .leader }) {
                let target = Self.raftID(rng.int(in: 0..<nodeCount))
                try? nodes[l]!.transferLeadership(to: target)
                try pump(l)
            }
        default:
            if membershipChanges, let l = (0..<nodeCount).first(where: { nodes[$0]?.role == .leader }) {
                let m = nodes[l]!.membership
                var options: [RaftConfigChange] = []
                for id in (0..<nodeCount).map(Self.raftID) {
                    if m.isLearner(id) {
                        options += [.promote(id), .remove(id)]
                    } else if m.isVoter(id) {
                        if m.voters.count > 1 { options.append(.remove(id)) }
                    } else {
                        options.append(.addLearner(id))
                    }
                }
                if let change = rng.element(of: options), (try? nodes[l]!.proposeConfigChange(change)) != nil {
                    configChangesProposed += 1
                    try pump(l)
                }
            }
        }
    }

    // MARK: - Clients

    mutating func clientStep(_ c: Int) throws {
        guard clientState[c].current == nil, sim.now >= clientState[c].nextAt else { return }
        let key = UInt8(rng.int(in: 0..<KVStateMachine.keys))
        let id = nextOpID
        nextOpID += 1
        let cmd: KVCommand
        switch rng.int(in: 0..<3) {
        case 0: cmd = KVCommand(kind: .put, key: key, opID: id, value: id)
        case 1: cmd = KVCommand(kind: .get, key: key, opID: id)
        default: cmd = KVCommand(kind: .cas, key: key, opID: id, value: id, expected: clientState[c].lastSeen[Int(key)])
        }
        let target = clientState[c].hint ?? rng.int(in: 0..<nodeCount)
        history.append(HistoryOperation(client: c, input: cmd, invoke: UInt64(sim.now.nanosecondsClamped), response: nil, output: nil))
        let op = history.count - 1
        clientState[c].current = op
        clientState[c].deadline = sim.now + Self.clientTimeout
        sim.scheduleControl(tag: Self.timeoutTagBase + c, after: Self.clientTimeout)
        guard sim.isUp(target), nodes[target] != nil else {
            return retry(c, op: op, hint: nil)
        }
        do {
            if cmd.kind == .get {
                try nodes[target]!.readIndex(context: cmd.encode())
            } else {
                try nodes[target]!.propose(cmd.encode())
            }
            waiting[target][cmd.opID] = op
            try pump(target)
        } catch let RaftError.notLeader(leader) {
            retry(c, op: op, hint: leader == 0 ? nil : Self.simIndex(leader))
        } catch {
            retry(c, op: op, hint: nil)
        }
    }

    /// The op was refused before taking effect: it never happened; try again soon elsewhere.
    mutating func retry(_ c: Int, op: Int, hint: Int?) {
        // Refused ops are always the newest entry.
        history.remove(at: op)
        clientState[c].current = nil
        clientState[c].hint = hint
        clientState[c].nextAt = sim.now + .milliseconds(5)
        sim.scheduleControl(tag: Self.clientTagBase + c, after: .milliseconds(5))
    }

    mutating func respond(_ op: Int, output: UInt64) {
        guard let c = clientState.indices.first(where: { clientState[$0].current == op }) else { return }
        history[op].output = output
        history[op].response = UInt64(sim.now.nanosecondsClamped)
        let cmd = history[op].input
        switch cmd.kind {
        case .get: clientState[c].lastSeen[Int(cmd.key)] = output
        case .put: clientState[c].lastSeen[Int(cmd.key)] = cmd.value
        case .cas: if output == 1 { clientState[c].lastSeen[Int(cmd.key)] = cmd.value }
        }
        clientState[c].current = nil
        let think = Duration.milliseconds(Int64(rng.int(in: 0...20)))
        clientState[c].nextAt = sim.now + think
        sim.scheduleControl(tag: Self.clientTagBase + c, after: think)
    }

    mutating func timeOut(client c: Int) {
        guard clientState[c].current != nil, sim.now >= clientState[c].deadline else { return }
        // Outcome unknown: it stays in the history without a response (the checker drops such reads).
        clientState[c].current = nil
        clientState[c].hint = nil
        clientState[c].nextAt = sim.now
        sim.scheduleControl(tag: Self.clientTagBase + c, after: .zero)
    }
}
