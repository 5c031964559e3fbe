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

    /// Required pod affinity: per term, the topology values where a matching pod runs.
    var requiredAffinity: [(term: AffinityTerm, domains: Set<String>)] = []
    /// No pod matches any affinity term but the pod matches its own terms: the first of a group may go anywhere.
    var affinityWaived = false
    var requiredAntiAffinity: [(term: AffinityTerm, domains: Set<String>)] = []
    /// Existing pods' required anti-affinity that selects this pod: topology key → forbidden values.
    var forbiddenByExisting: [String: Set<String>] = [:]
    var hardSpread: [SpreadState] = []
    var softSpread: [SpreadState] = []
    /// Preferred inter-pod terms as topology key → value → weight (affinity positive, anti negative).
    var preferredPodWeights: [String: [String: Int]] = [:]

    struct SpreadState {
        var maxSkew: Int
        var topologyKey: String
        var counts: [String: Int]
        var minCount: Int
        var selfMatch: Int
    }

    init(_ pod: Pod, cache: SchedulingCache) {
        info = PodInfo(pod)
        let spec = pod.spec ?? PodSpec()
        tolerations = spec.tolerations ?? []
        nodeSelector = spec.nodeSelector ?? [:]
        requiredNodeAffinity = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
        preferredNodeAffinity = spec.affinity?.nodeAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? []
        hasNodeConstraints = !nodeSelector.isEmpty || requiredNodeAffinity != nil
        let ns = info.key.namespace

        // Required inter-pod affinity and anti-affinity.
        let affinityTerms = (spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
            .compactMap { AffinityTerm($0, ownNamespace: ns) }
        var anyMatch = false
        for term in affinityTerms {
            let matches = cache.pods(matching: term)
            if !matches.isEmpty { anyMatch = true }
            requiredAffinity.append((term, Self.domains(of: matches, key: term.topologyKey, cache: cache)))
        }
        if !affinityTerms.isEmpty && !anyMatch {
            affinityWaived = affinityTerms.allSatisfy { $0.matches(namespace: ns, labels: info.labels) }
        }
        for term in info.requiredAntiAffinity {
            requiredAntiAffinity.append((term, Self.domains(of: cache.pods(matching: term), key: term.topologyKey, cache: cache)))
        }
        for group in cache.antiAffinityGroups.values where group.term.matches(namespace: ns, labels: info.labels) {
            forbiddenByExisting[group.term.topologyKey, default: []].formUnion(group.domainCounts.keys)
        }

        // Preferred inter-pod terms, and the symmetric weight of existing pods' preferences.
        func addWeight(_ key: String, _ value: String, _ w: Int) { preferredPodWeights[key, default: [:]][value, default: 0] += w }
        for (terms, sign) in [(info.preferredAffinity, 1), (info.preferredAntiAffinity, -1)] {
            for term in terms {
                for p in cache.pods(matching: term) {
                    if let n = p.nodeName, let v = cache.label(term.topologyKey, onNode: n) { addWeight(term.topologyKey, v, sign * term.weight) }
                }
            }
        }
        for group in cache.preferredGroups.values where group.term.matches(namespace: ns, labels: info.labels) {
            for (value, w) in group.domainWeights { addWeight(group.term.topologyKey, value, w) }
        }

        // Topology spread: counts per domain over the nodes this pod could use at all.
        for c in spec.topologySpreadConstraints ?? [] {
            guard let matcher = try? LabelSelectorMatcher.from(c.labelSelector) else { continue }
            var counts: [String: Int] = [:]
            for i in cache.nodes.indices where passesNodeConstraints(cache.nodes[i]) {
                if let v = cache.nodes[i].labels[c.topologyKey], counts[v] == nil { counts[v] = 0 }
            }
            let term = AffinityTerm(selector: matcher, namespaces: [ns], topologyKey: c.topologyKey, weight: 0)
            for p in cache.pods(matching: term) {
                guard let n = p.nodeName, let i = cache.nodeIndex[n], let v = cache.nodes[i].labels[c.topologyKey], counts[v] != nil,
                      passesNodeConstraints(cache.nodes[i]) else { continue }
                counts[v, default: 0] += 1
            }
            var minCount = counts.values.min() ?? 0
            if let minDomains = c.minDomains, counts.count < minDomains { minCount = 0 }
            let state = SpreadState(maxSkew: max(1, c.maxSkew), topologyKey: c.topologyKey, counts: counts, minCount: minCount,
                                    selfMatch: matcher.matches(info.labels) ? 1 : 0)
            if c.whenUnsatisfiable == "ScheduleAnyway" { softSpread.append(state) } else { hardSpread.append(state) }
        }
        toleratesUnschedulable = tolerations.contains { $0.tolerates(Taint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")) }
        isSimple = !hasNodeConstraints && info.hostPorts.isEmpty && info.requests.scalar.isEmpty
            && hardSpread.isEmpty && forbiddenByExisting.isEmpty && requiredAntiAffinity.isEmpty && requiredAffinity.isEmpty
        hasPodLevelConstraints = !hardSpread.isEmpty || !forbiddenByExisting.isEmpty || !requiredAntiAffinity.isEmpty || !requiredAffinity.isEmpty
    }

    static func domains(of pods: [PodInfo], key: String, cache: SchedulingCache) -> Set<String> {
        var out: Set<String> = []
        for p in pods {
            if let n = p.nodeName, let v = cache.label(key, onNode: n) { out.insert(v) }
        }
        return out
    }

    /// Spreading or inter-pod rules apply (most pods have none, and skip those checks).
    var hasPodLevelConstraints = false
    /// Only cpu, memory and pod count matter (no selectors, ports, extended resources or pod rules):
    /// such pods are filtered on `NodeFit` alone for nodes without taints.
    var isSimple = false
    var toleratesUnschedulable = false

    /// The fast path of `filter` for simple pods.
    @inline(__always)
    func quickFits(_ f: NodeFit) -> Bool {
        f.podCount < f.allowedPods
            && (info.requests.milliCPU == 0 || f.requestedCPU + info.requests.milliCPU <= f.allocatableCPU)
            && (info.requests.memory == 0 || f.requestedMemory + info.requests.memory <= f.allocatableMemory)
    }

    // MARK: - Filters (in kube-scheduler's plugin order; the first failing plugin decides)

    func filter(_ node: NodeInfo) -> NodeVerdict {
        var v = NodeVerdict()
        if !passesUnschedulable(node) { v.add(.unschedulable); return v }
        if !node.hardTaints.isEmpty, let taint = untoleratedTaint(node) {
            v.untoleratedTaint = taint
            return v
        }
        if !passesNodeConstraints(node) { v.add(.nodeAffinity); return v }
        if !info.hostPorts.isEmpty && !portsFree(node) { v.add(.ports); return v }
        fitResources(node, into: &v)
        if !v.fits { return v }
        if hasPodLevelConstraints {
            if let r = spreadFailure(node) { v.add(r); return v }
            if let r = interPodFailure(node) { v.add(r) }
        }
        return v
    }

    func passesUnschedulable(_ node: NodeInfo) -> Bool {
        guard node.unschedulable else { return true }
        let t = Taint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")
        return tolerations.contains { $0.tolerates(t) }
    }

    func untoleratedTaint(_ node: NodeInfo) -> Taint? {
        for t in node.hardTaints where !tolerations.contains(where: { $0.tolerates(t) }) { return t }
        return nil
    }

    func passesNodeConstraints(_ node: NodeInfo) -> Bool {
        guard hasNodeConstraints else { return true }
        for (k, v) in nodeSelector where node.labels[k] != v { return false }
        if let required = requiredNodeAffinity, !required.matches(nodeLabels: node.labels, nodeName: node.name) { return false }
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

    func spreadFailure(_ node: NodeInfo) -> FilterReason? {
        for s in hardSpread {
            guard let value = node.labels[s.topologyKey] else { return .spreadMissingLabel }
            let count = s.counts[value] ?? 0
            if count + s.selfMatch - s.minCount > s.maxSkew { return .spread }
        }
        return nil
    }

    func interPodFailure(_ node: NodeInfo) -> FilterReason? {
        for (key, values) in forbiddenByExisting {
            if let v = node.labels[key], values.contains(v) { return .existingAntiAffinity }
        }
        for (term, domains) in requiredAntiAffinity {
            if let v = node.labels[term.topologyKey], domains.contains(v) { return .podAntiAffinity }
        }
        if !affinityWaived {
            for (term, domains) in requiredAffinity {
                guard let v = node.labels[term.topologyKey], domains.contains(v) else { return .podAffinity }
            }
        } else {
            // The first pod of a group still needs the topology label to define its domain.
            for (term, _) in requiredAffinity where node.labels[term.topologyKey] == nil { return .podAffinity }
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
            addNormalized(&total, feasible.map { cache.nodes[$0] }, weight: 2) { node in
                var s = 0
                for term in preferredNodeAffinity where term.preference.matches(nodeLabels: node.labels, nodeName: node.name) { s += term.weight }
                return Double(s)
            }
        }
        if feasible.contains(where: { cache.fits[$0].hasPreferNoSchedule }) {
            // Fewer intolerable PreferNoSchedule taints is better.
            addNormalized(&total, feasible.map { cache.nodes[$0] }, weight: 3, reverse: true) { node in
                Double(node.preferNoScheduleTaints.filter { t in !tolerations.contains { $0.tolerates(t) } }.count)
            }
        }
        if !preferredPodWeights.isEmpty {
            addNormalized(&total, feasible.map { cache.nodes[$0] }, weight: 2) { node in
                var s = 0
                for (key, weights) in preferredPodWeights { if let v = node.labels[key] { s += weights[v] ?? 0 } }
                return Double(s)
            }
        }
        if !softSpread.isEmpty {
            addNormalized(&total, feasible.map { cache.nodes[$0] }, weight: 2, reverse: true) { node in
                var s = 0
                for c in softSpread { s += node.labels[c.topologyKey].map { c.counts[$0] ?? 0 } ?? (c.counts.values.max() ?? 0) + 1 }
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
    func addNormalized(_ total: inout [Double], _ nodes: [NodeInfo], weight: Double, reverse: Bool = false, _ raw: (NodeInfo) -> Double) {
        let values = nodes.map(raw)
        guard let lo = values.min(), let hi = values.max(), hi > lo else { return }
        for i in values.indices {
            let n = (values[i] - lo) / (hi - lo) * 100
            total[i] += weight * (reverse ? 100 - n : n)
        }
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
    }
}
