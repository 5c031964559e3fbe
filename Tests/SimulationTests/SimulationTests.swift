import Simulation
import Testing

private let faulty = NetworkFaults(loss: 0.2, duplication: 0.1, delay: .milliseconds(1) ... .milliseconds(50))

private func runBroadcast(seed: UInt64, keepsLog: Bool = false) -> BroadcastCluster {
    let cluster = BroadcastCluster(seed: seed, nodes: 5, network: faulty, keepsTraceLog: keepsLog)
    cluster.sim.tornWriteProbability = 0.5
    cluster.start(value: 7)
    cluster.sim.scheduleControl(tag: 1, at: .milliseconds(30))
    cluster.sim.scheduleControl(tag: 2, at: .milliseconds(400))
    cluster.run(until: .seconds(5)) { tag in
        if tag == 1 { cluster.sim.crash(3) }
        if tag == 2 { cluster.restart(3) }
    }
    return cluster
}

@Suite struct DeterminismTests {
    @Test func sameSeedGivesIdenticalTrace() {
        let a = runBroadcast(seed: 42, keepsLog: true)
        let b = runBroadcast(seed: 42, keepsLog: true)
        #expect(a.sim.trace.eventCount > 50)
        #expect(a.sim.trace == b.sim.trace)
        #expect(a.sim.trace.lines == b.sim.trace.lines)
        #expect(a.sim.stats == b.sim.stats)
    }

    @Test func differentSeedsGiveDifferentTraces() {
        let hashes = Set((1...8).map { runBroadcast(seed: UInt64($0)).sim.trace.hash })
        #expect(hashes.count == 8)
    }

    @Test func traceLogDoesNotChangeTheHash() {
        #expect(runBroadcast(seed: 9, keepsLog: true).sim.trace.hash == runBroadcast(seed: 9).sim.trace.hash)
    }

    @Test func broadcastReachesEveryoneUnderFaults() throws {
        let seeds = try forEachSeed(defaultCount: 10) { seed in
            let cluster = runBroadcast(seed: seed)
            try simCheck(cluster.holders == [0, 1, 2, 3, 4], "holders \(cluster.holders)")
            try simCheck(cluster.sim.stats.droppedByLoss > 0, "no loss happened")
        }
        #expect(!seeds.isEmpty)
    }
}

@Suite struct NetworkFaultTests {
    @Test func totalLossDeliversNothing() {
        let sim = Simulation<Int>(seed: 1, nodes: 2, network: NetworkFaults(loss: 1))
        for i in 0..<100 { sim.send(from: 0, to: 1, i) }
        #expect(sim.step() == nil)
        #expect(sim.stats.droppedByLoss == 100)
        #expect(sim.stats.delivered == 0)
    }

    @Test func partialLossRateIsRoughlyRespected() {
        let sim = Simulation<Int>(seed: 2, nodes: 2, network: NetworkFaults(loss: 0.3))
        for i in 0..<4000 { sim.send(from: 0, to: 1, i) }
        var delivered = 0
        while sim.step() != nil { delivered += 1 }
        #expect(delivered == sim.stats.delivered)
        #expect(delivered + sim.stats.droppedByLoss == 4000)
        #expect((2600...3000).contains(delivered))
    }

    @Test func fullDuplicationDeliversEveryMessageTwice() {
        let sim = Simulation<Int>(seed: 3, nodes: 2, network: NetworkFaults(duplication: 1))
        for i in 0..<50 { sim.send(from: 0, to: 1, i) }
        var counts: [Int: Int] = [:]
        while case let .deliver(_, _, message)? = sim.step() { counts[message, default: 0] += 1 }
        #expect(counts.count == 50)
        #expect(counts.values.allSatisfy { $0 == 2 })
        #expect(sim.stats.duplicated == 50)
    }

    @Test func randomDelaysReorderAndFixedDelaysKeepOrder() {
        func received(_ delay: ClosedRange<Duration>) -> [Int] {
            let sim = Simulation<Int>(seed: 4, nodes: 2, network: NetworkFaults(delay: delay))
            for i in 0..<100 { sim.send(from: 0, to: 1, i) }
            var out: [Int] = []
            while case let .deliver(_, _, message)? = sim.step() { out.append(message) }
            return out
        }
        let fixed = received(.milliseconds(5) ... .milliseconds(5))
        let random = received(.milliseconds(1) ... .milliseconds(50))
        #expect(fixed == Array(0..<100))
        #expect(random.sorted() == Array(0..<100))
        #expect(random != Array(0..<100))
    }

    @Test func delayStaysInRange() {
        let sim = Simulation<Int>(seed: 5, nodes: 2, network: NetworkFaults(delay: .milliseconds(10) ... .milliseconds(20)))
        for i in 0..<200 { sim.send(from: 0, to: 1, i) }
        while sim.step() != nil {
            #expect(sim.now >= .milliseconds(10) && sim.now <= .milliseconds(20))
        }
    }

    @Test func partitionBlocksUntilHeal() {
        let cluster = BroadcastCluster(seed: 6, nodes: 4, network: faulty)
        cluster.sim.partition([[0, 1], [2, 3]])
        cluster.start(value: 1)
        cluster.run(until: .seconds(3))
        #expect(cluster.holders == [0, 1])
        #expect(cluster.sim.stats.droppedByPartition > 0)
        cluster.sim.heal()
        cluster.run(until: .seconds(6))
        #expect(cluster.holders == [0, 1, 2, 3])
    }

    @Test func partitionDropsMessagesAlreadyInFlight() {
        let sim = Simulation<Int>(seed: 7, nodes: 2, network: NetworkFaults(delay: .milliseconds(10) ... .milliseconds(10)))
        sim.send(from: 0, to: 1, 1)
        sim.partition([[0], [1]])
        #expect(sim.step() == nil)
        #expect(sim.stats.droppedByPartition == 1)
    }

    @Test func isolateAndOneWayBlock() {
        let sim = Simulation<Int>(seed: 8, nodes: 3)
        sim.isolate(2)
        #expect(!sim.canCommunicate(from: 0, to: 2) && !sim.canCommunicate(from: 2, to: 1))
        #expect(sim.canCommunicate(from: 0, to: 1))
        sim.heal()
        sim.block(from: 0, to: 1)
        sim.send(from: 0, to: 1, 10)
        sim.send(from: 1, to: 0, 11)
        var got: [Int] = []
        while case let .deliver(_, _, m)? = sim.step() { got.append(m) }
        #expect(got == [11])
    }

    @Test func slowMemberAddsDelayBothWays() {
        let sim = Simulation<Int>(seed: 9, nodes: 3, network: NetworkFaults(delay: .milliseconds(1) ... .milliseconds(1)))
        sim.setSlowness(2, extraDelay: .milliseconds(100) ... .milliseconds(100))
        sim.send(from: 0, to: 1, 1)
        sim.send(from: 0, to: 2, 2)
        sim.send(from: 2, to: 1, 3)
        var at: [Int: Duration] = [:]
        while case let .deliver(_, _, m)? = sim.step() { at[m] = sim.now }
        #expect(at == [1: .milliseconds(1), 2: .milliseconds(101), 3: .milliseconds(101)])
    }

    @Test func perLinkOverride() {
        let sim = Simulation<Int>(seed: 10, nodes: 3)
        sim.setFaults(NetworkFaults(loss: 1), from: 0, to: 2)
        sim.send(from: 0, to: 2, 1)
        sim.send(from: 0, to: 1, 2)
        #expect(sim.step() == .deliver(from: 0, to: 1, message: 2))
        #expect(sim.step() == nil)
    }
}

@Suite struct LifecycleTests {
    @Test func crashDropsTimersAndInFlightMessagesEvenAfterQuickRestart() {
        let sim = Simulation<Int>(seed: 11, nodes: 2, network: NetworkFaults(delay: .milliseconds(10) ... .milliseconds(10)))
        sim.setTimer(1, after: .milliseconds(20))
        sim.send(from: 0, to: 1, 1)
        sim.scheduleControl(tag: 0, at: .milliseconds(5))
        #expect(sim.step() == .control(tag: 0))
        sim.crash(1)
        sim.send(from: 0, to: 1, 2)  // to a down node
        sim.restart(1)
        #expect(sim.step() == nil)
        #expect(sim.stats.droppedByCrash == 2)
        #expect(sim.stats.timersFired == 0)
        sim.send(from: 0, to: 1, 3)
        #expect(sim.step() == .deliver(from: 0, to: 1, message: 3))
    }

    @Test func crashedNodeCatchesUpAfterRestartFromDisk() {
        let cluster = BroadcastCluster(seed: 12, nodes: 3, network: faulty)
        cluster.sim.crash(2)
        cluster.start(value: 5)
        cluster.run(until: .seconds(1))
        #expect(cluster.holders == [0, 1])
        cluster.restart(2)
        cluster.run(until: .seconds(3))
        #expect(cluster.holders == [0, 1, 2])
        // node 1 persisted the value; a crash + restart keeps it
        cluster.sim.crash(1)
        cluster.restart(1)
        #expect(cluster.cores[1].value == 5)
    }

    @Test func addedNodeJoinsTheNetwork() {
        let sim = Simulation<Int>(seed: 13, nodes: 2)
        let id = sim.addNode()
        #expect(id == 2 && sim.nodeCount == 3)
        sim.send(from: 0, to: id, 1)
        #expect(sim.step() == .deliver(from: 0, to: 2, message: 1))
    }

    @Test func timersReplaceCancelAndTieInOrder() {
        let sim = Simulation<Int>(seed: 14, nodes: 3)
        sim.setTimer(0, at: .milliseconds(50))
        sim.setTimer(0, at: .milliseconds(30))  // replaces the 50 ms one
        sim.setTimer(1, tag: 7, at: .milliseconds(30))
        sim.setTimer(2, at: .milliseconds(40))
        sim.cancelTimer(2)
        #expect(sim.step() == .timer(node: 0, tag: 0))
        #expect(sim.step() == .timer(node: 1, tag: 7))
        #expect(sim.now == .milliseconds(30))
        #expect(sim.step() == nil)
    }

    @Test func stepUntilStopsAtDeadline() {
        let sim = Simulation<Int>(seed: 15, nodes: 1)
        sim.setTimer(0, at: .seconds(2))
        #expect(sim.step(until: .seconds(1)) == nil)
        #expect(sim.now == .seconds(1))
        #expect(sim.step(until: .seconds(3)) == .timer(node: 0, tag: 0))
        #expect(sim.now == .seconds(2))
    }

    @Test func clockOffsetsAndJumps() {
        let sim = Simulation<Int>(seed: 16, nodes: 2)
        sim.setClockOffset(1, to: .milliseconds(500))
        sim.jumpClock(1, by: .seconds(-2))
        #expect(sim.localTime(0) == .zero)
        #expect(sim.localTime(1) == .milliseconds(-1500))
        // a deadline in node 1's clock converts back to global time
        sim.setTimer(1, atLocalTime: .milliseconds(-1000))
        #expect(sim.step() == .timer(node: 1, tag: 0))
        #expect(sim.now == .milliseconds(500))
        #expect(sim.localTime(1) == .milliseconds(-1000))
    }
}

@Suite struct SeedRunnerTests {
    @Test func failureNamesSeedAndReplayCommand() {
        do {
            try forEachSeed(defaultCount: 10, testName: "myTest()") { seed in
                try simCheck(seed != 4, "boom")
            }
            Issue.record("expected a failure")
        } catch {
            #expect(error.seed == 4)
            #expect(error.replayCommand == "SIM_SEED=4 swift test --filter myTest")
            #expect(error.description.contains("boom"))
        }
    }

    @Test func environmentOverrides() {
        #expect(SeedPlan.fromEnvironment(defaultCount: 5, environment: [:]) == .range(1...5))
        #expect(SeedPlan.fromEnvironment(defaultCount: 5, environment: ["SIM_SEEDS": "100"]) == .range(1...100))
        #expect(SeedPlan.fromEnvironment(defaultCount: 5, environment: ["SIM_SEED": "77", "SIM_SEEDS": "3"]) == .single(77))
        #expect(SeedPlan.fromEnvironment(defaultCount: 5, environment: ["SIM_SEEDS": "junk"]) == .range(1...5))
        #expect(SeedPlan.fromEnvironment(defaultCount: 5, environment: ["SIM_SEEDS": "501-800"]) == .range(501...800))
        #expect(SeedPlan.fromEnvironment(defaultCount: 5, environment: ["SIM_SEEDS": "9-3"]) == .range(1...5))
    }
}

extension SimEvent: Equatable where Message: Equatable {
    public static func == (a: SimEvent, b: SimEvent) -> Bool {
        switch (a, b) {
        case let (.deliver(f1, t1, m1), .deliver(f2, t2, m2)): f1 == f2 && t1 == t2 && m1 == m2
        case let (.timer(n1, g1), .timer(n2, g2)): n1 == n2 && g1 == g2
        case let (.control(c1), .control(c2)): c1 == c2
        default: false
        }
    }
}
