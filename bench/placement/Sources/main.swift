import Placement
import ResourceModel

// The scheduler alone against synthetic clusters: pods bound per second and, for bin packing, nodes used
// against the lower bound. `scripts/bench-placement` builds this in release mode and runs it.
//   placement-bench [--nodes 1000,5000] [--pods 50000] [--seed 42]

struct Options {
    var nodes = [1000, 5000]
    var pods = 50_000
    var seed: UInt64 = 42
    var constrained = 5000

    init(_ args: [String]) throws {
        var i = 0
        func value() throws -> String {
            i += 1
            guard i < args.count else { throw UsageError(message: "\(args[i - 1]) needs a value") }
            return args[i]
        }
        while i < args.count {
            switch args[i] {
            case "--nodes": nodes = try value().split(separator: ",").compactMap { Int($0) }
            case "--pods": pods = Int(try value()) ?? pods
            case "--constrained": constrained = Int(try value()) ?? constrained
            case "--seed": seed = UInt64(try value()) ?? seed
            default: throw UsageError(message: "unknown argument \(args[i]) (use --nodes N,M --pods N --constrained N --seed N)")
            }
            i += 1
        }
        guard !nodes.isEmpty, nodes.allSatisfy({ $0 > 0 }), pods > 0 else { throw UsageError(message: "--nodes and --pods must be positive") }
    }
}

struct UsageError: Error { var message: String }

struct Random: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// `x` with `digits` decimals (no Foundation).
func fixed(_ x: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let n = Int((abs(x) * scale).rounded())
    let whole = n / Int(scale), frac = n % Int(scale)
    let fracText = String(frac)
    return (x < 0 ? "-" : "") + "\(whole)" + (digits > 0 ? "." + String(repeating: "0", count: digits - fracText.count) + fracText : "")
}

/// CPU time this process has used (user + system), in seconds.
func cpuSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

/// A tenth of the nodes carry a `dedicated=batch:NoSchedule` taint and a `pool=batch` label.
func mixedNodes(_ count: Int) -> [Node] {
    SyntheticCluster.nodes(count: count).enumerated().map { i, node in
        var n = node
        if i % 10 == 0 {
            n.metadata?.labels?["pool"] = "batch"
            n.spec = n.spec ?? NodeSpec()
            n.spec?.taints = [Taint(key: "dedicated", value: "batch", effect: "NoSchedule")]
        }
        return n
    }
}

/// Mixed shapes and constraints: most pods only have requests; every 10th selects a zone, every 10th
/// tolerates and selects the tainted batch pool, every 20th has a preferred anti-affinity to its app.
func mixedPods(_ count: Int) -> [Pod] {
    SyntheticCluster.pods(count: count).enumerated().map { i, pod in
        var p = pod
        switch i % 20 {
        case 1, 11:
            p.spec?.nodeSelector = ["topology.kubernetes.io/zone": "zone-\(i % 3)"]
        case 2, 12:
            p.spec?.nodeSelector = ["pool": "batch"]
            p.spec?.tolerations = [Toleration(key: "dedicated", operator: "Equal", value: "batch", effect: "NoSchedule")]
        case 3:
            let app = p.metadata?.labels?["app"] ?? ""
            let json: JSONValue = ["podAntiAffinity": ["preferredDuringSchedulingIgnoredDuringExecution": [
                ["weight": 50, "podAffinityTerm": ["labelSelector": ["matchLabels": ["app": .string(app)]], "topologyKey": "kubernetes.io/hostname"]]]]]
            p.spec?.affinity = try? json.decode(Affinity.self)
        default:
            break
        }
        return p
    }
}

func run(_ name: String, nodes: [Node], pods: [Pod], policy: ScoringPolicy, seed: UInt64) -> (rate: Double, outcome: SchedulingOutcome) {
    var cache = SchedulingCache(nodes: nodes, pods: [])
    var scheduler = Scheduler(configuration: SchedulerConfiguration(policy: policy))
    var rng = Random(state: seed)
    let clock = ContinuousClock()
    let start = clock.now
    let cpuStart = cpuSeconds()
    let outcome = scheduler.schedule(pods, cache: &cache, using: &rng)
    let elapsed = seconds(clock.now - start)
    let cpu = cpuSeconds() - cpuStart
    let rate = Double(pods.count) / elapsed
    let used = Set(outcome.bindings.map(\.nodeName)).count
    print("| \(name) | \(nodes.count) | \(pods.count) | \(policy.rawValue) | \(outcome.bindings.count) | \(fixed(elapsed, 2)) | \(Int(rate)) "
        + "| \(fixed(cpu, 2)) | \(Int(Double(pods.count) / max(cpu, 1e-9))) | \(used) |")
    return (rate, outcome)
}

/// Nodes a perfect packing needs at least: the largest of cpu, memory and pod count over one node's share.
func lowerBound(_ pods: [Pod], node: Node) -> Int {
    var cpu: Int64 = 0, memory: Int64 = 0
    for p in pods {
        let r = ResourceAmounts(PodResources.requests(p.spec ?? PodSpec()))
        cpu += r.milliCPU
        memory += r.memory
    }
    let a = ResourceAmounts(node.status?.allocatable ?? [:])
    let maxPods = Int64(node.status?.allocatable?["pods"]?.value ?? 110)
    func ceilDiv(_ x: Int64, _ y: Int64) -> Int64 { y <= 0 ? 0 : (x + y - 1) / y }
    return Int(max(ceilDiv(cpu, a.milliCPU), ceilDiv(memory, a.memory), ceilDiv(Int64(pods.count), maxPods)))
}

do {
    let options = try Options(Array(CommandLine.arguments.dropFirst()))
    // On a shared machine the wall clock counts other work too; CPU time is this process's alone.
    print("| workload | nodes | pods | policy | bound | wall s | pods/s (wall) | CPU s | pods per CPU-s | nodes used |")
    print("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|")
    var packing: [String] = []
    for n in options.nodes {
        let plain = SyntheticCluster.pods(count: options.pods)
        let (_, outcome) = run("requests only", nodes: SyntheticCluster.nodes(count: n), pods: plain, policy: .mostAllocated, seed: options.seed)
        let used = Set(outcome.bindings.map(\.nodeName)).count
        let bound = lowerBound(plain, node: SyntheticCluster.nodes(count: 1)[0])
        packing.append("\(n) nodes: \(used) used, lower bound \(bound), \(fixed((Double(used) / Double(max(1, bound)) - 1) * 100, 1))% above")
        _ = run("requests only", nodes: SyntheticCluster.nodes(count: n), pods: plain, policy: .leastAllocated, seed: options.seed)
        _ = run("mixed", nodes: mixedNodes(n), pods: mixedPods(options.pods), policy: .mostAllocated, seed: options.seed)
        if options.constrained > 0 {
            _ = run("spread + anti-affinity", nodes: SyntheticCluster.nodes(count: n), pods: SyntheticCluster.constrainedPods(count: min(options.constrained, n * 5), apps: 20),
                    policy: .mostAllocated, seed: options.seed)
        }
    }
    print("")
    print("Bin packing (MostAllocated, requests only): " + packing.joined(separator: "; "))
} catch let error as UsageError {
    print("placement-bench: \(error.message)")
    exit(2)
}

#if canImport(Glibc)
import Glibc
#endif
