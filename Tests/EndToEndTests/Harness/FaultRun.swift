import Foundation
import Simulation

/// One fault from injection to healed, measured: how long until a write went through the hosts the fault
/// left standing, whether gossip called anyone dead when it should not have, how long until the whole
/// cluster took writes again after the heal.
struct FaultRecord: Sendable, CustomStringConvertible {
    var fault: Nemesis.Fault
    /// The fault hit the Raft leader (killed, paused, cut off or on the minority side).
    var hitLeader: Bool
    /// From injection to the first acknowledged write through the surviving majority; nil if none came.
    var writable: Duration?
    /// From the heal to the first acknowledged write through every host in turn.
    var recovered: Duration?
    /// From the heal until the cluster was whole again (`Checks.settled`); nil if not within
    /// `Checks.convergenceBound`, which fails the run.
    var converged: Duration?
    /// Dead verdicts on running peers seen while the fault held (only watched under packet loss).
    var falseDeadVerdicts: [String] = []
    /// Dead verdicts already there when this fault began: an earlier fault's verdict that outlived its heal
    /// and the convergence check. Fails the run (a convergence failure, not a false positive).
    var leftoverDeadVerdicts: [String] = []
    /// Raft voters the leader had once writes went through again after the heal (the target is 3 or 5).
    var votersAfter: Int?

    var description: String {
        let convergence: String = converged.map { "converged after \($0.formatted)" } ?? "NOT converged within \(Checks.convergenceBound.formatted)"
        let head: String = "\(fault)\(hitLeader ? " (the leader)" : ""): writable after \(writable?.formatted ?? "never"), "
        var text = head + "recovered \(recovered?.formatted ?? "never") after heal, \(convergence), \(votersAfter.map(String.init) ?? "?") voters"
        if !falseDeadVerdicts.isEmpty { text += ", false dead verdicts: \(falseDeadVerdicts.prefix(3))" }
        if !leftoverDeadVerdicts.isEmpty { text += ", dead verdicts left from earlier faults: \(leftoverDeadVerdicts)" }
        return text
    }
}

struct FaultRunner: Sendable {
    let cluster: Cluster
    var nemesis: Nemesis { Nemesis(cluster: cluster) }

    /// The hosts a fault leaves able to reach a quorum.
    func survivors(of fault: Nemesis.Fault) -> [Int] {
        let all = Array(0..<cluster.count)
        switch fault {
        case .kill(let i), .pause(let i), .cutLink(let i): return all.filter { $0 != i }
        case .partition(let sides): return sides.max { $0.count < $1.count } ?? all
        case .loss, .clockJump: return all
        }
    }

    /// Whether gossip must keep every peer alive throughout (nobody is really unreachable).
    func nobodyUnreachable(_ fault: Nemesis.Fault) -> Bool {
        switch fault {
        case .loss, .clockJump: true
        default: false
        }
    }

    /// Injects, measures, holds for `hold`, heals, waits for writes through every host again.
    /// `during` runs while the fault holds, after the write through the survivors (tests check the minority there).
    func run(_ fault: Nemesis.Fault, hold: Duration, leader: Int?,
             during: @Sendable () async -> Void = {}) async throws -> FaultRecord {
        let survivors = survivors(of: fault)
        let hitLeader = leader.map { !survivors.contains($0) } ?? false
        if nobodyUnreachable(fault) {
            // Every heal is followed by a convergence check, so this waits only before a run's first fault; a
            // verdict still there when the watch starts is reported as a leftover, which fails the run.
            _ = await Checks.timeToSettle(cluster, since: .now, timeout: Checks.convergenceBound)
        }
        let watch = nobodyUnreachable(fault) ? MembershipWatch(cluster, observers: Array(0..<cluster.count), subjects: Array(0..<cluster.count)) : nil
        let injected = ContinuousClock.now
        try await nemesis.inject(fault)
        let writable = await Probe.timeToWrite(through: survivors, in: cluster, since: injected, timeout: .seconds(30))
        await during()
        let remaining = hold - (ContinuousClock.now - injected)
        if remaining > .zero { try? await Task.sleep(for: remaining) }
        let watched = await watch?.stop()
        try await nemesis.heal(fault)
        let healed = ContinuousClock.now
        let recovered = await Probe.timeToWrite(through: Array(0..<cluster.count), in: cluster, since: healed, timeout: .seconds(60))
        // Whole again before the next fault: one leader with all its voters, everyone alive in every view.
        let converged = await Checks.timeToSettle(cluster, since: healed, timeout: Checks.convergenceBound)
        var voters: Int?
        if let leader = await cluster.leader() { voters = await cluster.raft(leader)?.voters.count }
        return FaultRecord(fault: fault, hitLeader: hitLeader, writable: writable, recovered: recovered, converged: converged,
                           falseDeadVerdicts: watched?.deadVerdicts ?? [], leftoverDeadVerdicts: watched?.leftovers ?? [], votersAfter: voters)
    }
}

/// Random faults for as long as asked, with the KV workload running throughout; a report at the end.
struct SoakReport: Sendable, CustomStringConvertible {
    var hosts: Int
    var seconds: Int
    var seed: UInt64
    var faults: [FaultRecord]
    var workload: KVWorkload.Report
    var converged: Bool
    var convergedAfter: Duration?
    /// Broken promises of the extra workloads, by workload name.
    var workloadViolations: [String: [String]] = [:]

    var faultCounts: [String: Int] { Dictionary(grouping: faults, by: \.fault.kind).mapValues(\.count) }
    var maxWritableAfterLeaderLoss: Duration? { faults.filter(\.hitLeader).compactMap(\.writable).max() }
    var maxRecovery: Duration? { faults.compactMap(\.recovered).max() }
    var unrecovered: [FaultRecord] { faults.filter { $0.writable == nil || $0.recovered == nil } }
    var unconverged: [FaultRecord] { faults.filter { $0.converged == nil } }
    var falseDeadVerdicts: Int { faults.map(\.falseDeadVerdicts.count).reduce(0, +) }
    var leftoverDeadVerdicts: Int { faults.map(\.leftoverDeadVerdicts.count).reduce(0, +) }

    /// Convergence after the heal, per fault kind: "kind median/max (n)".
    var convergenceByKind: String {
        Dictionary(grouping: faults, by: \.fault.kind).sorted { $0.key < $1.key }.map { kind, records in
            let times = records.compactMap(\.converged).sorted()
            guard let max = times.last else { return "\(kind) never" }
            return "\(kind) \(times[times.count / 2].formatted)/\(max.formatted)"
        }.joined(separator: ", ")
    }
    var fewestVoters: Int? { faults.compactMap(\.votersAfter).min() }

    var description: String {
        let kinds = faultCounts.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        return """
        soak: \(hosts) hosts, \(seconds) s of random faults, seed \(seed)
          faults injected: \(faults.count) (\(kinds))
          operations: \(workload.operations) recorded; \(workload.counts)
          acknowledged writes: \(workload.acknowledgedWrites); lost writes: \(workload.lostWrites.count)
          linearizability: \(workload.verdict)
          max time to a writable leader after losing the leader: \(maxWritableAfterLeaderLoss?.formatted ?? "n/a") (\(faults.filter(\.hitLeader).count) faults hit the leader)
          max time to take writes on every peer after a heal: \(maxRecovery?.formatted ?? "n/a")
          faults without recovery: \(unrecovered.count); false dead verdicts (loss, clock jumps): \(falseDeadVerdicts)
          converged after every heal within \(Checks.convergenceBound.formatted): \(unconverged.isEmpty ? "yes" : "NO, \(unconverged.count) faults"); dead verdicts left from an earlier fault: \(leftoverDeadVerdicts)
          convergence after the heal, median/max: \(convergenceByKind)
          fewest Raft voters after a fault: \(fewestVoters.map(String.init) ?? "?") (target \(hosts >= 5 ? 5 : 3))
          converged (same leader and commit index, everyone alive everywhere): \(converged) after \(convergedAfter?.formatted ?? "-")
        """ + workloadViolations.sorted { $0.key < $1.key }.map { "\n  \($0.key): \($0.value.isEmpty ? "kept its promises" : "\($0.value)")" }.joined()
    }
}

enum Soak {
    /// Picks a random fault for the current cluster.
    static func randomFault(_ cluster: Cluster, leader: Int?, rng: inout SeededRandom) -> Nemesis.Fault {
        let n = cluster.count
        let victim = rng.int(in: 0..<n)
        let leaderOrVictim = leader ?? victim
        let choices: [Nemesis.Fault] = [
            .kill(victim), .kill(leaderOrVictim), .pause(victim), .cutLink(victim),
            .partition(minorityPartition(n, including: victim, rng: &rng)),
            .partition([[leaderOrVictim], (0..<n).filter { $0 != leaderOrVictim }]),
            .loss(Array(0..<n), probability: 0.05),
            .clockJump(victim, seconds: (rng.chance(0.5) ? 1 : -1) * [90, 600, 3600, 3 * 3600, 86400][rng.int(in: 0..<5)]),
        ]
        return choices[rng.int(in: 0..<choices.count)]
    }

    /// A minority of one or two (of five) hosts including `victim`, and the rest.
    static func minorityPartition(_ n: Int, including victim: Int, rng: inout SeededRandom) -> [[Int]] {
        let size = rng.int(in: 1...max(1, (n - 1) / 2))
        var minority = [victim]
        for i in rng.shuffled(Array(0..<n)) where minority.count < size && i != victim { minority.append(i) }
        return [minority.sorted(), (0..<n).filter { !minority.contains($0) }]
    }

    static func run(hosts: Int, seconds: Int, seed: UInt64, workloads: [any ClusterWorkload] = [],
                    log: @Sendable (String) -> Void) async throws -> SoakReport {
        let cluster = try Cluster(hosts: hosts)
        defer { cluster.teardown() }
        for extra in workloads { try extra.prepare(cluster) }
        guard try await cluster.startAll() else {
            throw Command.Failure(arguments: ["peer start"], status: 1, output: "the cluster did not form:\n\(await cluster.describe())\n\(cluster.logTail(0))")
        }
        let runner = FaultRunner(cluster: cluster)
        for extra in workloads { try await extra.start(on: cluster) }
        let workload = KVWorkload(cluster: cluster, workers: 4, keysPerGeneration: 4)
        workload.start(seed: seed)
        var rng = SeededRandom(seed: seed)
        var faults: [FaultRecord] = []
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            let leader = await cluster.leader()
            let fault = randomFault(cluster, leader: leader, rng: &rng)
            let hold = rng.duration(in: .seconds(2) ... .seconds(8))
            let record = try await runner.run(fault, hold: hold, leader: leader)
            faults.append(record)
            log("fault \(faults.count): \(record); workload so far: \(workload.currentCounts)")
            // Fresh keys for the next fault keep each key's history short for the checker.
            workload.nextGeneration()
            try? await Task.sleep(for: rng.duration(in: .seconds(1) ... .seconds(3)))
        }
        try await runner.nemesis.healAll()
        await workload.stop()
        let healed = ContinuousClock.now
        // The same bound as after every fault; the commit indexes must now agree too (the workload stopped).
        let converged = await eventually(Checks.convergenceBound) { await cluster.converged() }
        let convergedAfter = converged ? ContinuousClock.now - healed : nil
        let report = await workload.finish(through: 0)
        if !converged || !report.linearizable || !report.lostWrites.isEmpty {
            log("cluster at the end:\n\(await cluster.describe())")
        }
        var violations: [String: [String]] = [:]
        for extra in workloads { violations[extra.name] = await extra.violations(on: cluster, after: faults) }
        return SoakReport(hosts: hosts, seconds: seconds, seed: seed, faults: faults, workload: report,
                          converged: converged, convergedAfter: convergedAfter, workloadViolations: violations)
    }
}
