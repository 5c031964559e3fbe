import Foundation  // ProcessInfo
import Gossip
import Simulation
import Testing

/// The faults of the end-to-end soak (docs/RELIABILITY.md), on a small simulated cluster: after every heal,
/// every running member must see every member alive again within a bound, before the next fault.
@Suite(.serialized) struct SWIMHealTests {
    enum Fault: CustomStringConvertible {
        case partition([Int]), pause(Int), crash(Int), loss

        var description: String {
            switch self {
            case .partition(let minority): "partition \(minority)"
            case .pause(let node): "pause n\(node)"
            case .crash(let node): "crash n\(node)"
            case .loss: "5% loss"
            }
        }
    }

    static func everyoneAliveEverywhere(_ cluster: SWIMCluster) -> Bool {
        cluster.cores.allSatisfy { core in core.members.allSatisfy { $0.status == .alive } && core.memberCount == cluster.cores.count }
    }

    /// Runs `faults` random faults and answers the slowest convergence after a heal and the fault before it.
    static func soak(seed: UInt64, size: Int, faults: Int) -> (slowest: Duration, after: String, log: [String], times: [Duration]) {
        let lan = NetworkFaults(loss: 0, duplication: 0, delay: .milliseconds(1) ... .milliseconds(10))
        let cluster = SWIMCluster(seed: seed, size: size, network: lan)
        var rng = SeededRandom(seed: seed &+ 1)
        var now = Duration.seconds(5)
        cluster.run(until: now)
        var slowest = Duration.zero
        var slowestFault = ""
        var log: [String] = []
        var times: [Duration] = []
        for _ in 0..<faults {
            let victim = rng.int(in: 0..<size)
            let fault: Fault
            switch rng.int(in: 0..<4) {
            case 0: fault = .partition([victim])
            case 1: fault = .pause(victim)
            case 2: fault = .crash(victim)
            default: fault = .loss
            }
            var incarnation: UInt64 = 0
            switch fault {
            case .partition(let minority): cluster.sim.partition([minority, (0..<size).filter { !minority.contains($0) }])
            case .pause(let node): cluster.pause(node)
            case .crash(let node):
                incarnation = cluster.cores[node].incarnation
                cluster.crash(node)
            case .loss: cluster.sim.network.loss = 0.05
            }
            now += rng.duration(in: .seconds(2) ... .seconds(8))
            cluster.run(until: now)
            switch fault {
            case .partition: cluster.sim.heal()
            case .pause(let node): cluster.resume(node)
            case .crash(let node): cluster.restart(node, incarnation: incarnation + 1, seeds: (0..<size).filter { $0 != node })
            case .loss: cluster.sim.network.loss = 0
            }
            let healed = now
            while !everyoneAliveEverywhere(cluster), now < healed + .seconds(120) {
                now += .milliseconds(100)
                cluster.run(until: now)
            }
            let took = now - healed
            times.append(took)
            log.append("\(fault): converged after \(took)")
            if took > slowest {
                slowest = took
                slowestFault = "\(fault)"
            }
            now += rng.duration(in: .seconds(1) ... .seconds(3))
            cluster.run(until: now)
        }
        return (slowest, slowestFault, log, times)
    }

    /// Before members told suspects and the recently dead of their verdict directly (`noticeVerdicts`), a
    /// member that heard nothing while cut off kept its incarnation, and a verdict on it outlived the heal
    /// until the holder's next probe of it (stretched up to 9 s per member by Local Health) or the end of
    /// the suspicion: 10–22 s after healing a one-member partition of five. Now it is told every probe
    /// interval and refutes at once. `SWIM_HEAL_SEEDS=n` runs more seeds.
    @Test func everyHealConvergesWithinTwoProbeIntervals() throws {
        let seeds = ProcessInfo.processInfo.environment["SWIM_HEAL_SEEDS"].flatMap { Int($0) } ?? 8
        let bound = SWIMConfiguration.lan.probeInterval * 2 + .seconds(1)
        var worst = Duration.zero
        var times: [Duration] = []
        for seed in 1...UInt64(seeds) {
            for size in [3, 5] {
                let result = Self.soak(seed: seed, size: size, faults: 40)
                worst = max(worst, result.slowest)
                times += result.times
                if result.slowest > bound { print(result.log.joined(separator: "\n")) }
            }
        }
        times.sort()
        print("SWIM heal: \(times.count) faults on 3 and 5 members, convergence after the heal median \(times[times.count / 2]), 99th percentile \(times[times.count * 99 / 100]), max \(worst)")
        #expect(worst <= bound, "every view whole again within \(bound) of each heal")
    }
}
