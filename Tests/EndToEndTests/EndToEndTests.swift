import Foundation
import Simulation
import Testing

/// The whole product on the network shapes edge sites have: real `peer` processes, one per network
/// namespace, under every fault once, with a KV client whose history must stay linearizable.
/// Needs root (namespaces, iptables); CI runs as root.
@Suite("end to end in network namespaces", .serialized)
struct EndToEndTests {
    @Test("3 hosts, each fault once: the majority keeps answering and writing, the minority answers stale reads and a prompt 503, nothing acknowledged is lost, the history is linearizable, and everything converges alone")
    func everyFaultOnce() async throws {
        let cluster = try Cluster(hosts: 3)
        defer { cluster.teardown() }
        let formed = try await cluster.startAll()
        guard formed else {
            let state = await cluster.describe()
            Issue.record("the cluster did not form:\n\(state)\n\(cluster.logTail(0))")
            return
        }
        let runner = FaultRunner(cluster: cluster)
        let wroteMarker = await Checks.write(cluster, "marker", "m1", through: [0, 1, 2])
        #expect(wroteMarker, "a first write")

        let workload = KVWorkload(cluster: cluster, workers: 4, keysPerGeneration: 4)
        workload.start(seed: 20261127)
        var records: [FaultRecord] = []
        func leader() async -> Int {
            var found: Int?
            _ = await eventually(.seconds(30)) { found = await cluster.leader(); return found != nil }
            return found ?? 0
        }

        // 5% packet loss on every host: gossip calls nobody dead. First, while gossip is settled.
        var l = await leader()
        records.append(try await runner.run(.loss([0, 1, 2], probability: 0.05), hold: .seconds(12), leader: l))
        workload.nextGeneration()

        // The leader's wall clock jumps 2 hours ahead, and back at the heal (the harness's LD_PRELOAD shim moves
        // CLOCK_REALTIME only): writes go on, nobody is called dead, its API answers and creates objects.
        l = await leader()
        let jumped = l
        nonisolated(unsafe) var onJumped: (members: Int?, created: Int?, stampedAhead: Duration?)
        records.append(try await runner.run(.clockJump(jumped, seconds: 2 * 3600), hold: .seconds(3), leader: l) {
            try? await Task.sleep(for: .milliseconds(300))  // the shim re-reads its offset every 100 ms
            onJumped = await Checks.answersAfterClockJump(cluster, host: jumped)
        })
        workload.nextGeneration()
        #expect(onJumped.members == 200 && onJumped.created == 201, "the jumped peer answers /v1/members and creates a ConfigMap: \(onJumped)")
        #expect(onJumped.stampedAhead.map { $0 > .seconds(3600) } == true, "the jump reached the peer's wall clock: \(onJumped)")

        // kill -9 the leader, restart it on the same data directory.
        l = await leader()
        records.append(try await runner.run(.kill(l), hold: .seconds(3), leader: l))
        workload.nextGeneration()

        // A follower stops answering without dying, then its cable is cut.
        l = await leader()
        records.append(try await runner.run(.pause((l + 1) % 3), hold: .seconds(3), leader: l))
        workload.nextGeneration()
        l = await leader()
        records.append(try await runner.run(.cutLink((l + 2) % 3), hold: .seconds(3), leader: l))
        workload.nextGeneration()

        // The leader is isolated: the majority elects another and takes writes; the old leader, now a
        // minority of one, answers stale reads marked as such and a prompt 503 for linearizable ones.
        l = await leader()
        let isolated = l
        let isolatedAt = ContinuousClock.now
        nonisolated(unsafe) var onIsolatedLeader: Checks.MinorityAnswers?
        nonisolated(unsafe) var majorityStatuses: [Int: Int?] = [:]
        let majority = (0..<3).filter { $0 != isolated }
        records.append(try await runner.run(.partition([[isolated], majority]), hold: .seconds(3), leader: l) {
            majorityStatuses = await Checks.allAnswer(cluster, majority, key: "marker")
            onIsolatedLeader = await Checks.minorityAnswers(cluster, host: isolated, key: "marker", since: isolatedAt)
        })
        workload.nextGeneration()
        #expect(majorityStatuses.values.allSatisfy { $0 == 200 }, "every majority peer answers: \(majorityStatuses)")
        Self.expectEdgeAutonomy(onIsolatedLeader, who: "the isolated leader")

        // A follower is partitioned off (majority | minority): the same from a follower's side.
        l = await leader()
        let minority = (l + 1) % 3
        let partitionedAt = ContinuousClock.now
        nonisolated(unsafe) var onMinority: Checks.MinorityAnswers?
        records.append(try await runner.run(.partition([[minority], (0..<3).filter { $0 != minority }]), hold: .seconds(3), leader: l) {
            onMinority = await Checks.minorityAnswers(cluster, host: minority, key: "marker", since: partitionedAt)
        })
        workload.nextGeneration()
        Self.expectEdgeAutonomy(onMinority, who: "a partitioned follower")

        for record in records { print("e2e: \(record)") }
        for record in records {
            #expect(record.writable != nil, "writes go through the majority during \(record.fault)")
            #expect(record.recovered != nil, "writes go through every peer after healing \(record.fault)")
            #expect(record.falseDeadVerdicts.isEmpty, "no false dead verdict during \(record.fault): \(record.falseDeadVerdicts)")
            #expect(record.leftoverDeadVerdicts.isEmpty, "no dead verdict outlives the heal of an earlier fault: \(record.leftoverDeadVerdicts)")
            #expect(record.converged != nil, "whole again within \(Checks.convergenceBound.formatted) of healing \(record.fault)")
            #expect(record.votersAfter == 3, "the cluster keeps its 3 Raft voters after \(record.fault): \(record.votersAfter.map(String.init) ?? "no leader")")
            if record.hitLeader, let writable = record.writable {
                #expect(writable <= Checks.maximumElectionTimeout * 2,
                        "a writable leader within two election timeouts of losing the leader (\(record.fault)): \(writable.formatted)")
            }
        }

        try await runner.nemesis.healAll()
        await workload.stop()
        let healed = ContinuousClock.now
        let converged = await eventually(Checks.convergenceBound) { await cluster.converged() }
        print("e2e: converged \(converged) after \((ContinuousClock.now - healed).formatted)")
        let state = await cluster.describe()
        #expect(converged, "after healing, every peer names the same leader, commit index and members:\n\(state)")
        let report = await workload.finish(through: 0)
        print("e2e: \(report.operations) operations (\(report.counts)), \(report.acknowledgedWrites) acknowledged writes, \(report.lostWrites.count) lost, \(report.verdict)")
        #expect(report.acknowledgedWrites > 50, "the clients got writes through: \(report.counts)")
        #expect(report.lostWrites.isEmpty, "no acknowledged write is lost: \(report.lostWrites.prefix(5))")
        #expect(report.linearizable, "the history is linearizable: \(report.verdict)")
    }

    @Test("random faults for SOAK_SECONDS (default 20) on SOAK_HOSTS hosts (default 3), with pod workloads when SOAK_PODS=1: no lost write, a linearizable history, convergence, every workload's promises kept")
    func soak() async throws {
        let environment = ProcessInfo.processInfo.environment
        let seconds = environment["SOAK_SECONDS"].flatMap(Int.init) ?? 20
        let hosts = environment["SOAK_HOSTS"].flatMap(Int.init) ?? 3
        var system = SystemRandomNumberGenerator()
        let seed = environment["SOAK_SEED"].flatMap(UInt64.init) ?? system.next() % 1_000_000
        print("soak: seed \(seed); replay with SOAK_SEED=\(seed) SOAK_SECONDS=\(seconds) SOAK_HOSTS=\(hosts)")
        // SOAK_PODS=1: a Deployment, a DaemonSet and a Job run through the faults too (peers running pods).
        let workloads: [any ClusterWorkload] = environment["SOAK_PODS"] == "1" ? [WebDeployment(), EdgeDaemonSet(), BatchJob()] : []
        let report = try await Soak.run(hosts: hosts, seconds: seconds, seed: seed, workloads: workloads) { line in print("soak: \(line)") }
        print(report)
        if let path = environment["SOAK_REPORT"] {
            try? report.description.write(toFile: path, atomically: true, encoding: .utf8)
        }
        #expect(report.faults.count > 0)
        #expect(report.unrecovered.isEmpty, "every fault recovered: \(report.unrecovered)")
        #expect(report.falseDeadVerdicts == 0, "no false dead verdicts")
        #expect(report.leftoverDeadVerdicts == 0, "no dead verdict outlives a heal")
        #expect(report.unconverged.isEmpty, "whole again within \(Checks.convergenceBound.formatted) of every heal: \(report.unconverged)")
        #expect(report.converged, "converged after the faults")
        #expect(report.workload.lostWrites.isEmpty, "no lost writes: \(report.workload.lostWrites.prefix(5))")
        #expect(report.workload.linearizable, "linearizable: \(report.workload.verdict)")
        #expect(report.fewestVoters == min(hosts, 5) || (hosts == 4 && report.fewestVoters == 3), "the cluster keeps its Raft voters: \(report.fewestVoters.map(String.init) ?? "?")")
        #expect(report.workloadViolations.values.allSatisfy { $0.isEmpty }, "every workload kept its promises: \(report.workloadViolations)")
    }

    static func expectEdgeAutonomy(_ answers: Checks.MinorityAnswers?, who: String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard let answers else {
            Issue.record("\(who) was not checked", sourceLocation: sourceLocation)
            return
        }
        #expect(answers.staleStatus == 200 && answers.staleBody == "m1", "\(who) answers a stale read: \(answers)", sourceLocation: sourceLocation)
        #expect(answers.staleMarked, "\(who) marks it X-Stale: true", sourceLocation: sourceLocation)
        #expect(answers.linearizableStatus == 503, "\(who) answers 503 to a linearizable read: \(answers)", sourceLocation: sourceLocation)
        #expect(answers.linearizableBody?.contains("\"kind\":\"Status\"") == true || answers.linearizableBody?.contains("Status") == true,
                "as a Status object: \(answers.linearizableBody ?? "")", sourceLocation: sourceLocation)
        #expect(answers.untilPrompt503 != nil, "\(who) answers the 503 within a second once it knows it is cut off: \(answers)", sourceLocation: sourceLocation)
        if let until = answers.untilPrompt503 { print("e2e: \(who) answered a prompt 503 \(until.formatted) after the partition") }
    }
}
