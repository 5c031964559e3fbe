import ResourceModel

/// Everything about one pending pod that filtering and scoring need, computed once per pod
/// (kube-scheduler's PreFilter / PreScore state) so the per-node work is integer compares.
struct PodContext {
    var info: PodInfo
    var tolerations: [Toleration]
    var nodeSelector: [String: String]
    var requiredNodeAffinity: NodeSelector?
    var preferredNodeAffinity: [PreferredSchedulingTerm]
    var hasNodeConstraints: Bool
    /// Node index → failure bits of the fixed filters (`NodeFilterMemo`), shared by pods with the same
    /// tolerations and node constraints.
    var nodeMask: [UInt8]

    /// Required pod affinity: per term, where matching pods run.
    var requiredAffinity: [DomainCounts] = []
    /// No pod matches any affinity term but the pod matches its own terms: the first of a group may go anywhere.
    var affinityWaived = false
    /// Own required anti-affinity: where matching pods run.
    var requiredAntiAffinity: [DomainCounts] = []
    /// Existing pods' required anti-affinity that selects this pod: the domains where such pods run.
    var forbiddenByExisting: [DomainCounts] = []
    var hardSpread: [SpreadState] = []
    var softSpread: [SpreadState] = []
    /// Preferred inter-pod terms, each a weight per domain (affinity positive, anti-affinity negative):
    /// the pod's own terms (weight × matching pods) and existing pods' terms that select it.
    var preferredPod: [(domains: DomainCounts, factor: Int)] = []

    struct SpreadState {
        var maxSkew: Int
        var domains: DomainCounts
        var minCount: Int
        var maxCount: Int
        var selfMatch: Int
    }

    init(_ pod: Pod, cache: inout SchedulingCache) {
        info = PodInfo(pod)
        let spec = pod.spec ?? PodSpec()
        tolerations = spec.tolerations ?? []
        nodeSelector = spec.nodeSelector ?? [:]
        requiredNodeAffinity = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
        preferredNodeAffinity = spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []
        hasNodeConstraints = !nodeSelector.isEmpty || requiredNodeAffinity != nil
        nodeMask = cache.nodeFilterMask(tolerations: tolerations, nodeSelector: nodeSelector, required: requiredNodeAffinity)
        let ns = info.key.namespace

        // Required inter-pod affinity and anti-affinity.
        let affinityTerms = (spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
            .compactMap { AffinityTerm($0, ownNamespace: ns) }
        var anyMatch = false
        for term in affinityTerms {
            let d = cache.domainCounts(for: term)
            if !d.counts.isEmpty || !cache.pods(matching: term).isEmpty { anyMatch = true }
            requiredAffinity.append(d)
        }
        if !affinityTerms.isEmpty && !anyMatch {
            affinityWaived = affinityTerms.allSatisfy { $0.matches(namespace: ns, labels: info.labels) }
        }
        for term in info.requiredAntiAffinity { requiredAntiAffinity.append(cache.domainCounts(for: term)) }
        for group in cache.antiAffinityGroups.values
        where !group.domainCounts.isEmpty && group.term.matches(namespace: ns, labels: info.labels) {
            forbiddenByExisting.append(DomainCounts(column: cache.column(group.term.topologyKey), counts: group.domainCounts))
        }

        // Preferred inter-pod terms, and the symmetric weight of existing pods' preferences.
        for (terms, sign) in [(info.preferredAffinity, 1), (info.preferredAntiAffinity, -1)] {
            for term in terms { preferredPod.append((cache.domainCounts(for: term), sign * term.weight)) }
        }
        for group in cache.preferredGroups.values
        where !group.domainWeights.isEmpty && group.term.matches(namespace: ns, labels: info.labels) {
            preferredPod.append((DomainCounts(column: cache.column(group.term.topologyKey), counts: group.domainWeights), 1))
        }

        // Topology spread: counts per domain over the nodes this pod could use at all.
        for c in spec.topologySpreadConstraints ?? [] {
            guard let matcher = try? LabelSelectorMatcher.from(c.labelSelector) else { continue }
            let term = AffinityTerm(selector: matcher, namespaces: [ns], topologyKey: c.topologyKey, weight: 0)
            var domains: DomainCounts
            var present: [Int32: Int]
            if hasNodeConstraints {
                // Only pods on nodes the pod could use count: counted here, not from the shared index.
                domains = DomainCounts(column: cache.column(c.topologyKey), counts: [:])
                present = [:]
                for i in nodeMask.indices where nodeMask[i] & NodeFilterMemo.nodeAffinity == 0 {
                    if let v = domains.domain(i) { present[v, default: 0] += 1 }
                }
                for p in cache.pods(matching: term) {
                    guard let n = p.nodeName, let i = cache.nodeIndex[n], nodeMask[i] & NodeFilterMemo.nodeAffinity == 0,
                          let v = domains.domain(i) else { continue }
                    domains.counts[v, default: 0] += 1
                }
            } else {
                domains = cache.domainCounts(for: term)
                present = cache.labelColumns.keyID(c.topologyKey).map { cache.labelColumns.domainNodes[$0] } ?? [:]
            }
            var minCount = Int.max, maxCount = 0
            for v in present.keys {
                let n = domains.counts[v] ?? 0
                minCount = min(minCount, n)
                maxCount = max(maxCount, n)
            }
            if present.isEmpty { minCount = 0 }
            if let minDomains = c.minDomains, present.count < minDomains { minCount = 0 }
            let state = SpreadState(maxSkew: max(1, c.maxSkew), domains: domains, minCount: minCount, maxCount: maxCount,
                                    selfMatch: matcher.matches(info.labels) ? 1 : 0)
            if c.whenUnsatisfiable == "ScheduleAnyway" { softSpread.append(state) } else { hardSpread.append(state) }
        }
        toleratesUnschedulable = tolerations.contains { $0.tolerates(Taint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")) }
        needsNodeDetail = !info.hostPorts.isEmpty || !info.requests.scalar.isEmpty
        hasPodLevelConstraints = !hardSpread.isEmpty || !forbiddenByExisting.isEmpty || !requiredAntiAffinity.isEmpty || !requiredAffinity.isEmpty
    }

    /// Spreading or inter-pod rules apply (most pods have none, and skip those checks).
    var hasPodLevelConstraints = false
    /// Host ports or extended resources: checked on the full `NodeInfo`.
    var needsNodeDetail = false
    var toleratesUnschedulable = false

    /// Whether node `idx` passes every filter: the per-node loop, integer reads only for most pods.
    @inline(__always)
    func feasible(_ idx: Int, _ fit: NodeFit, cache: SchedulingCache) -> Bool {
        guard nodeMask[idx] == 0, quickFits(fit) else { return false }
        if needsNodeDetail {
            var v = NodeVerdict()
            let node = cache.nodes[idx]
            if !info.hostPorts.isEmpty && !portsFree(node) { return false }
            fitResources(node, into: &v)
            if !v.fits { return false }
        }
        return !hasPodLevelConstraints || podLevelFailure(idx) == nil
    }

    /// cpu, memory and pod count on the compact `NodeFit`.
    @inline(__always)
    func quickFits(_ f: NodeFit) -> Bool {
        f.podCount < f.allowedPods
            && (info.requests.milliCPU == 0 || f.requestedCPU + info.requests.milliCPU <= f.allocatableCPU)
            && (info.requests.memory == 0 || f.requestedMemory + info.requests.memory <= f.allocatableMemory)
    }

    // MARK: - Filters (in kube-scheduler's plugin order; the first failing plugin decides)

    /// Every filter on node `idx`, with the reasons (for failure messages and preemption).
    func filter(at idx: Int, cache: SchedulingCache) -> NodeVerdict {
        var v = NodeVerdict()
        let node = cache.nodes[idx]
        let bits = nodeMask[idx]
        if bits & NodeFilterMemo.unschedulable != 0 { v.add(.unschedulable); return v }
        if bits & NodeFilterMemo.taint != 0, let taint = untoleratedTaint(node) {
            v.untoleratedTaint = taint
            return v
        }
        if bits & NodeFilterMemo.nodeAffinity != 0 { v.add(.nodeAffinity); return v }
        if !info.hostPorts.isEmpty && !portsFree(node) { v.add(.ports); return v }
        fitResources(node, into: &v)
        if !v.fits { return v }
        if hasPodLevelConstraints, let r = podLevelFailure(idx) { v.add(r) }
        return v
    }

    func untoleratedTaint(_ node: NodeInfo) -> Taint? {
        for t in node.hardTaints where !tolerations.contains(where: { $0.tolerates(t) }) { return t }
        return nil
    }

    static func passesNodeConstraints(_ node: NodeInfo, nodeSelector: [String: String], required: NodeSelector?) -> Bool {
        for (k, v) in nodeSelector where node.labels[k] != v { return false }
        if let required, !required.matches(nodeLabels: node.labels, nodeName: node.name) { return false }
        return true
    }

    func portsFree(_ node: NodeInfo) -> Bool {
        for want in info.hostPorts where node.usedPorts.contains(where: { $0.conflicts(with: want) }) { return false }
        return true
    }

    func fitResources(_ node: NodeInfo, into v: inout NodeVerdict) {
        if node.podCount + 1 > node.allowedPodNumber { v.add(.tooManyPods) }
        let r = info.requests
        if r.milliCPU > 0 && node.requested.milliCPU + r.milliCPU > node.allocatable.milliCPU { v.add(.insufficientCPU) }
        if r.memory > 0 && node.requested.memory + r.memory > node.allocatable.memory { v.add(.insufficientMemory) }
        if !r.scalar.isEmpty {
            for (name, amount) in r.scalar.sorted(by: { $0.key < $1.key }) where amount > 0 {
                if (node.requested.scalar[name] ?? 0) + amount > (node.allocatable.scalar[name] ?? 0) { v.insufficientScalar.append(name) }
            }
        }
    }

    func podLevelFailure(_ idx: Int) -> FilterReason? {
        for s in hardSpread {
            guard let value = s.domains.domain(idx) else { return .spreadMissingLabel }
            if (s.domains.counts[value] ?? 0) + s.selfMatch - s.minCount > s.maxSkew { return .spread }
        }
        for d in forbiddenByExisting where d.count(idx) > 0 { return .existingAntiAffinity }
        for d in requiredAntiAffinity where d.count(idx) > 0 { return .podAntiAffinity }
        if !affinityWaived {
            for d in requiredAffinity where d.count(idx) == 0 { return .podAffinity }
        } else {
            // The first pod of a group still needs the topology label to define its domain.
            for d in requiredAffinity where d.domain(idx) == nil { return .podAffinity }
        }
        return nil
    }

    // MARK: - Scores

    /// kube-scheduler's plugin weights: NodeResourcesFit 1, NodeAffinity 2, InterPodAffinity 2, PodTopologySpread 2, TaintToleration 3.
    func pickNode(_ feasible: [Int], cache: SchedulingCache, policy: ScoringPolicy, random: UInt64) -> Int {
        if feasible.count == 1 { return feasible[0] }
        var total = [Double](repeating: 0, count: feasible.count)
        for i in 0..<feasible.count { total[i] = resourceScore(cache.fits[feasible[i]], policy: policy) }
        if !preferredNodeAffinity.isEmpty {
            addNormalized(&total, feasible, weight: 2) { idx in
                let node = cache.nodes[idx]
                var s = 0
                for term in preferredNodeAffinity where term.preference.matches(nodeLabels: node.labels, nodeName: node.name) { s += term.weight }
                return Double(s)
            }
        }
        if feasible.contains(where: { cache.fits[$0].hasPreferNoSchedule }) {
            // Fewer intolerable PreferNoSchedule taints is better.
            addNormalized(&total, feasible, weight: 3, reverse: true) { idx in
                guard cache.fits[idx].hasPreferNoSchedule else { return 0 }
                return Double(cache.nodes[idx].preferNoScheduleTaints.filter { t in !tolerations.contains { $0.tolerates(t) } }.count)
            }
        }
        if !preferredPod.isEmpty {
            addNormalized(&total, feasible, weight: 2) { Double(preferredPodScore($0)) }
        }
        if !softSpread.isEmpty {
            addNormalized(&total, feasible, weight: 2, reverse: true) { idx in
                var s = 0
                for c in softSpread { s += c.domains.domain(idx).map { c.domains.counts[$0] ?? 0 } ?? c.maxCount + 1 }
                return Double(s)
            }
        }
        // Highest total wins; ties are broken uniformly at random, as kube-scheduler's selectHost does.
        var bestScore = total[0]
        var ties = 0
        for t in total {
            if t > bestScore {
                bestScore = t
                ties = 1
            } else if t == bestScore {
                ties += 1
            }
        }
        var pick = Int(random % UInt64(ties))
        var best = 0
        for i in 0..<total.count where total[i] == bestScore {
            if pick == 0 {
                best = i
                break
            }
            pick -= 1
        }
        return feasible[best]
    }

    /// Applies min-max normalisation to 0...100 (kube-scheduler's NormalizeScore) and adds `weight ×` it.
    func addNormalized(_ total: inout [Double], _ feasible: [Int], weight: Double, reverse: Bool = false, _ raw: (Int) -> Double) {
        var values = [Double](repeating: 0, count: feasible.count)
        var lo = Double.infinity, hi = -Double.infinity
        for i in feasible.indices {
            let x = raw(feasible[i])
            values[i] = x
            lo = min(lo, x)
            hi = max(hi, x)
        }
        guard hi > lo else { return }
        for i in values.indices {
            let n = (values[i] - lo) / (hi - lo) * 100
            total[i] += weight * (reverse ? 100 - n : n)
        }
    }

    /// InterPodAffinity's raw score on node `idx`.
    func preferredPodScore(_ idx: Int) -> Int {
        var s = 0
        for (d, factor) in preferredPod { s += factor * d.count(idx) }
        return s
    }

    /// Kubernetes' defaults for pods that request nothing, so empty pods still spread or pack.
    static let nonZeroCPU: Int64 = 100
    static let nonZeroMemory: Int64 = 200 * 1024 * 1024

    func resourceScore(_ node: NodeFit, policy: ScoringPolicy) -> Double {
        let cpu = info.requests.milliCPU > 0 ? info.requests.milliCPU : Self.nonZeroCPU
        let mem = info.requests.memory > 0 ? info.requests.memory : Self.nonZeroMemory
        func part(_ requested: Int64, _ allocatable: Int64) -> Double {
            guard allocatable > 0 else { return 0 }
            let used = min(1, Double(requested) / Double(allocatable))
            return policy == .mostAllocated ? used * 100 : (1 - used) * 100
        }
        return (part(node.requestedCPU + cpu, node.allocatableCPU) + part(node.requestedMemory + mem, node.allocatableMemory)) / 2
    }
}

extension AffinityTerm {
    init(selector: LabelSelectorMatcher, namespaces: Set<String>?, topologyKey: String, weight: Int) {
        self.selector = selector
        self.namespaces = namespaces
        self.topologyKey = topologyKey
        self.weight = weight
        signature = Self.signature(selector, namespaces, topologyKey)
    }
}
