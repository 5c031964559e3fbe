import ResourceModel

/// How the resource score ranks nodes.
public enum ScoringPolicy: String, Sendable, Equatable {
    /// Bin packing: prefer the fullest node that fits (edge clusters, fewer nodes powered).
    case mostAllocated = "MostAllocated"
    /// Spreading: prefer the emptiest node.
    case leastAllocated = "LeastAllocated"
}

public struct SchedulerConfiguration: Sendable, Equatable {
    public var policy: ScoringPolicy
    /// Percentage of nodes to find feasible before scoring; nil is kube-scheduler's adaptive default
    /// (50% minus 1% per 125 nodes, at least 5%), 100 scores every node.
    public var percentageOfNodesToScore: Int?
    /// Below this many nodes every node is scored.
    public var minFeasibleNodesToFind: Int
    /// Whether to propose preemptions for pods that fit nowhere.
    public var preemptionEnabled: Bool

    public init(policy: ScoringPolicy = .mostAllocated, percentageOfNodesToScore: Int? = nil,
                minFeasibleNodesToFind: Int = 100, preemptionEnabled: Bool = true) {
        self.policy = policy
        self.percentageOfNodesToScore = percentageOfNodesToScore
        self.minFeasibleNodesToFind = minFeasibleNodesToFind
        self.preemptionEnabled = preemptionEnabled
    }

    /// kube-scheduler's `numFeasibleNodesToFind`.
    public func feasibleNodesToFind(total: Int) -> Int {
        if total < minFeasibleNodesToFind { return total }
        var pct = percentageOfNodesToScore ?? max(5, 50 - total / 125)
        if pct >= 100 { return total }
        pct = max(pct, 1)
        return min(total, max(total * pct / 100, minFeasibleNodesToFind))
    }
}

public struct Binding: Sendable, Equatable {
    public var pod: PodKey
    public var podUID: String?
    public var nodeName: String
    public init(pod: PodKey, podUID: String?, nodeName: String) { self.pod = pod; self.podUID = podUID; self.nodeName = nodeName }

    /// The stored pod with `spec.nodeName` set, for a compare-and-swap write; nil if it is not the pod
    /// this binding was made for, or it is already bound (a pod is never bound twice).
    public func boundPod(_ pod: JSONValue) -> JSONValue? {
        guard pod["metadata"]?["name"]?.stringValue == self.pod.name,
              podUID == nil || pod["metadata"]?["uid"]?.stringValue == podUID,
              (pod["spec"]?["nodeName"]?.stringValue ?? "").isEmpty else { return nil }
        var bound = pod
        bound.set(.string(nodeName), at: ["spec", "nodeName"])
        return bound
    }
}

public struct SchedulingFailure: Sendable, Equatable {
    public var pod: PodKey
    public var podUID: String?
    /// kube-scheduler's `FailedScheduling` message, e.g. `0/5 nodes are available: 2 Insufficient cpu, 3 node(s) were unschedulable.`
    public var message: String
    /// Reason → number of nodes that failed for it.
    public var reasons: [String: Int]
}

/// Evict `victims` so that `pod` fits on `nodeName` (the shell deletes them and sets `status.nominatedNodeName`).
public struct PreemptionDecision: Sendable, Equatable {
    public var pod: PodKey
    public var podUID: String?
    public var nodeName: String
    public var victims: [PodKey]
    public init(pod: PodKey, podUID: String?, nodeName: String, victims: [PodKey]) {
        self.pod = pod; self.podUID = podUID; self.nodeName = nodeName; self.victims = victims
    }
}

public struct SchedulingOutcome: Sendable {
    public var bindings: [Binding] = []
    public var failures: [SchedulingFailure] = []
    public var preemptions: [PreemptionDecision] = []
    public init() {}

    /// `Scheduled` / `FailedScheduling` events in kube-scheduler's words.
    public func events() -> [EventRecord] {
        var out: [EventRecord] = []
        for b in bindings {
            out.append(EventRecord(involvedObject: ObjectReference(apiVersion: "v1", kind: "Pod", namespace: b.pod.namespace, name: b.pod.name, uid: b.podUID),
                                   reason: "Scheduled", message: "Successfully assigned \(b.pod) to \(b.nodeName)", type: .normal))
        }
        for f in failures {
            out.append(EventRecord(involvedObject: ObjectReference(apiVersion: "v1", kind: "Pod", namespace: f.pod.namespace, name: f.pod.name, uid: f.podUID),
                                   reason: "FailedScheduling", message: f.message, type: .warning))
        }
        for p in preemptions {
            for v in p.victims {
                out.append(EventRecord(involvedObject: ObjectReference(apiVersion: "v1", kind: "Pod", namespace: v.namespace, name: v.name),
                                       reason: "Preempted", message: "Preempted by pod \(p.podUID ?? p.pod.description) on node \(p.nodeName)", type: .normal))
            }
        }
        return out
    }
}

/// Why a node was filtered out. The messages are kube-scheduler's.
public enum FilterReason: Int, Sendable, CaseIterable {
    case unschedulable, nodeAffinity, ports, insufficientCPU, insufficientMemory, tooManyPods
    case spreadMissingLabel, spread, podAffinity, podAntiAffinity, existingAntiAffinity

    public var message: String {
        switch self {
        case .unschedulable: "node(s) were unschedulable"
        case .nodeAffinity: "node(s) didn't match Pod's node affinity/selector"
        case .ports: "node(s) didn't have free ports for the requested pod ports"
        case .insufficientCPU: "Insufficient cpu"
        case .insufficientMemory: "Insufficient memory"
        case .tooManyPods: "Too many pods"
        case .spreadMissingLabel: "node(s) didn't match pod topology spread constraints (missing required label)"
        case .spread: "node(s) didn't match pod topology spread constraints"
        case .podAffinity: "node(s) didn't match pod affinity rules"
        case .podAntiAffinity: "node(s) didn't match pod anti-affinity rules"
        case .existingAntiAffinity: "node(s) didn't satisfy existing pods anti-affinity rules"
        }
    }

    /// Reasons preemption cannot fix (kube-scheduler's UnschedulableAndUnresolvable).
    var isResolvableByPreemption: Bool {
        switch self {
        case .ports, .insufficientCPU, .insufficientMemory, .tooManyPods, .existingAntiAffinity, .podAntiAffinity, .spread: true
        default: false
        }
    }
}

/// The result of filtering one node. Kept allocation-free on the hot path: reasons are a bit set.
public struct NodeVerdict: Sendable, Equatable {
    public var reasonMask: UInt32 = 0
    /// Set when an untolerated taint failed the node.
    public var untoleratedTaint: Taint?
    /// Extended resources that did not fit (`Insufficient <name>`).
    public var insufficientScalar: [String] = []
    public var fits: Bool { reasonMask == 0 && untoleratedTaint == nil && insufficientScalar.isEmpty }

    mutating func add(_ r: FilterReason) { reasonMask |= 1 << UInt32(r.rawValue) }
    public var reasons: [FilterReason] { FilterReason.allCases.filter { reasonMask & (1 << UInt32($0.rawValue)) != 0 } }

    /// kube-scheduler's words for the taint: `node(s) had untolerated taint {key: value}`.
    static func taintMessage(_ t: Taint) -> String { "node(s) had untolerated taint {\(t.key): \(t.value ?? "")}" }

    public var messages: [String] {
        var m = reasons.map(\.message)
        if let untoleratedTaint { m.append(Self.taintMessage(untoleratedTaint)) }
        m += insufficientScalar.map { "Insufficient \($0)" }
        return m
    }
}

/// kube-scheduler's scheduling cycle over a batch of pending pods. A value type: the shell keeps it
/// (for the rotating start index) and passes the cache and the random source in.
public struct Scheduler: Sendable {
    public var configuration: SchedulerConfiguration
    /// Where the next search for feasible nodes starts, so sampling rotates over the cluster.
    public var nextStartNodeIndex = 0

    public init(configuration: SchedulerConfiguration = SchedulerConfiguration()) { self.configuration = configuration }

    /// Schedules `pending` in priority order (higher first, then given order). Each binding is assumed into
    /// `cache`, so later pods of the batch see it.
    public mutating func schedule<R: RandomNumberGenerator>(_ pending: [Pod], cache: inout SchedulingCache, using rng: inout R) -> SchedulingOutcome {
        var outcome = SchedulingOutcome()
        let order = pending.indices.sorted { a, b in
            let pa = pending[a].spec?.priority ?? 0, pb = pending[b].spec?.priority ?? 0
            return pa != pb ? pa > pb : a < b
        }
        for i in order {
            let pod = pending[i]
            // Already bound (a stale pending list): binding again would move a running pod.
            guard (pod.spec?.nodeName ?? "").isEmpty else { continue }
            // One draw per pod keeps the hot path free of generic code.
            switch scheduleOne(pod, cache: &cache, random: rng.next()) {
            case .bound(let b): outcome.bindings.append(b)
            case .failed(let f, let p):
                outcome.failures.append(f)
                if let p { outcome.preemptions.append(p) }
            }
        }
        return outcome
    }

    enum OneResult { case bound(Binding), failed(SchedulingFailure, PreemptionDecision?) }

    mutating func scheduleOne(_ pod: Pod, cache: inout SchedulingCache, random: UInt64) -> OneResult {
        // The context holds the cache's index tables: it must be gone before `assume` writes to them, or
        // they would be copied.
        let decision = decide(pod, cache: &cache, random: random)
        switch decision {
        case .failed(let result): return result
        case .bind(let info, let idx):
            let name = cache.nodes[idx].name
            cache.assume(info, onto: name)
            return .bound(Binding(pod: info.key, podUID: info.uid, nodeName: name))
        }
    }

    enum Decision { case bind(PodInfo, Int), failed(OneResult) }

    mutating func decide(_ pod: Pod, cache: inout SchedulingCache, random: UInt64) -> Decision {
        let ctx = PodContext(pod, cache: &cache)
        let n = cache.nodes.count
        let want = configuration.feasibleNodesToFind(total: n)
        var feasible: [Int] = []
        feasible.reserveCapacity(want)
        var processed = 0
        let start = n == 0 ? 0 : nextStartNodeIndex % n
        cache.fits.withUnsafeBufferPointer { fits in
            while processed < n && feasible.count < want {
                var idx = start + processed
                if idx >= n { idx -= n }
                processed += 1
                if ctx.feasible(idx, fits[idx], cache: cache) { feasible.append(idx) }
            }
        }
        nextStartNodeIndex = n == 0 ? 0 : (start + processed) % n

        guard !feasible.isEmpty else {
            // Every node was checked; explain each (rare, so the full filter runs again).
            var histogram = FailureHistogram()
            for idx in cache.nodes.indices { histogram.add(ctx.filter(at: idx, cache: cache)) }
            let failure = SchedulingFailure(pod: ctx.info.key, podUID: ctx.info.uid,
                                            message: histogram.message(totalNodes: n), reasons: histogram.counts)
            var preemption: PreemptionDecision?
            if configuration.preemptionEnabled {
                preemption = Preemption.choose(for: ctx, cache: cache)
            }
            return .failed(.failed(failure, preemption))
        }
        return .bind(ctx.info, ctx.pickNode(feasible, cache: cache, policy: configuration.policy, random: random))
    }
}

/// Counts failure reasons over nodes without allocating per node.
struct FailureHistogram {
    var fixed = [Int](repeating: 0, count: FilterReason.allCases.count)
    var other: [String: Int] = [:]

    mutating func add(_ v: NodeVerdict) {
        var mask = v.reasonMask
        while mask != 0 {
            let bit = mask.trailingZeroBitCount
            fixed[bit] += 1
            mask &= mask - 1
        }
        if let t = v.untoleratedTaint { other[NodeVerdict.taintMessage(t), default: 0] += 1 }
        for s in v.insufficientScalar { other["Insufficient \(s)", default: 0] += 1 }
    }

    var counts: [String: Int] {
        var out = other
        for r in FilterReason.allCases where fixed[r.rawValue] > 0 { out[r.message] = fixed[r.rawValue] }
        return out
    }

    /// kube-scheduler's `FitError`: "count reason" strings sorted as strings, joined by ", ".
    func message(totalNodes: Int) -> String {
        let parts = counts.map { "\($0.value) \($0.key)" }.sorted()
        if totalNodes == 0 { return "no nodes available to schedule pods" }
        var msg = "0/\(totalNodes) nodes are available"
        msg += parts.isEmpty ? "." : ": " + parts.joined(separator: ", ") + "."
        return msg
    }
}
