import Placement
import ResourceModel
import Simulation
import Testing

/// `PLACEMENT_BENCH=1 swift test -c release --filter SchedulerBenchmark` measures pods/s on 1,000 and 5,000 nodes.
/// By default a small sample runs, checking correctness of the large path (sampling) only.
@Suite struct SchedulerBenchmarkTests {
    static let bench = Environment.get("PLACEMENT_BENCH") == "1"

    @Test func schedulesSyntheticWorkload() {
        let runs: [(nodes: Int, pods: Int)] = Self.bench ? [(1000, 50_000), (5000, 50_000)] : [(300, 2000)]
        for run in runs {
            var cache = SchedulingCache(nodes: SyntheticCluster.nodes(count: run.nodes), pods: [])
            var scheduler = Scheduler(configuration: SchedulerConfiguration(policy: .mostAllocated))
            var rng = SeededRandom(seed: 42)
            let pods = SyntheticCluster.pods(count: run.pods)
            let clock = ContinuousClock()
            let start = clock.now
            let out = scheduler.schedule(pods, cache: &cache, using: &rng)
            let elapsed = clock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            #expect(out.bindings.count == run.pods)
            #expect(Set(out.bindings.map(\.pod)).count == run.pods)
            if Self.bench {
                print("scheduler bench: \(run.pods) pods on \(run.nodes) nodes in \(seconds) s = \(Int(Double(run.pods) / seconds)) pods/s, "
                    + "nodes used \(Set(out.bindings.map(\.nodeName)).count)")
            }
        }
    }
}

extension SchedulerBenchmarkTests {
    /// Spread + anti-affinity pods: every one is placed on a distinct host per app, zones balanced.
    @Test func schedulesConstrainedWorkload() {
        let (nodes, count) = Self.bench ? (1000, 5000) : (60, 300)
        var cache = SchedulingCache(nodes: SyntheticCluster.nodes(count: nodes), pods: [])
        var scheduler = Scheduler()
        var rng = SeededRandom(seed: 7)
        let pods = SyntheticCluster.constrainedPods(count: count, apps: Self.bench ? 20 : 10)
        let clock = ContinuousClock()
        let start = clock.now
        let out = scheduler.schedule(pods, cache: &cache, using: &rng)
        let elapsed = clock.now - start
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        #expect(out.bindings.count == count)
        let perApp = Dictionary(grouping: out.bindings, by: { cache.pod($0.pod)?.labels["app"] ?? "" }).mapValues(\.count)
        // Anti-affinity on hostname: no two pods of an app share a node.
        for (app, n) in perApp { #expect(Set(out.bindings.filter { cache.pod($0.pod)?.labels["app"] == app }.map(\.nodeName)).count == n) }
        if Self.bench {
            print("scheduler bench (spread + anti-affinity): \(count) pods on \(nodes) nodes in \(seconds) s = \(Int(Double(count) / seconds)) pods/s")
        }
    }
}

enum Environment {
    static func get(_ name: String) -> String? {
        guard let p = getenv(name) else { return nil }
        return String(cString: p)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
