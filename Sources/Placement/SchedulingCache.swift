import ResourceModel

/// Identifies a pod by namespace and name (names are unique per namespace).
public struct PodKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var namespace: String
    public var name: String
    public init(namespace: String, name: String) { self.namespace = namespace; self.name = name }
    public init(_ pod: Pod) {
        namespace = pod.metadata?.namespace ?? "default"
        name = pod.metadata?.name ?? ""
    }
    public var description: String { "\(namespace)/\(name)" }
    public static func < (a: PodKey, b: PodKey) -> Bool { (a.namespace, a.name) < (b.namespace, b.name) }
}

/// A host port as the NodePorts filter compares them; `0.0.0.0` conflicts with every address.
public struct HostPort: Hashable, Sendable {
    public var proto: String
    public var hostIP: String
    public var port: Int
    public init(proto: String, hostIP: String, port: Int) { self.proto = proto; self.hostIP = hostIP; self.port = port }

    func conflicts(with other: HostPort) -> Bool {
        port == other.port && proto == other.proto
            && (hostIP == other.hostIP || hostIP == "0.0.0.0" || other.hostIP == "0.0.0.0")
    }
}

/// Resource amounts in the scheduler's integer units: cpu in millicores, everything else in base units.
public struct ResourceAmounts: Sendable, Equatable {
    public var milliCPU: Int64 = 0
    public var memory: Int64 = 0
    /// Extended and other scalar resources (ephemeral-storage, example.com/gpu...), rarely present.
    public var scalar: [String: Int64] = [:]
    public init(milliCPU: Int64 = 0, memory: Int64 = 0, scalar: [String: Int64] = [:]) {
        self.milliCPU = milliCPU; self.memory = memory; self.scalar = scalar
    }

    public init(_ list: ResourceList) {
        for (name, q) in list {
            switch name {
            case "cpu": milliCPU = q.milliValue
            case "memory": memory = q.value
            case "pods": continue
            default: scalar[name] = q.value
            }
        }
    }

    mutating func add(_ o: ResourceAmounts, sign: Int64 = 1) {
        milliCPU += sign * o.milliCPU
        memory += sign * o.memory
        for (k, v) in o.scalar { scalar[k, default: 0] += sign * v }
    }
}

/// A compiled pod (anti-)affinity term: which pods it selects, and the topology it is about.
struct AffinityTerm: Sendable {
    var selector: LabelSelectorMatcher
    /// nil: every namespace (an empty `namespaceSelector`).
    var namespaces: Set<String>?
    var topologyKey: String
    var weight: Int
    /// Identifies terms that select the same pods on the same topology (grouping and counting by term).
    var signature: String

    init?(_ term: PodAffinityTerm, ownNamespace: String, weight: Int = 0) {
        guard let matcher = try? LabelSelectorMatcher.from(term.labelSelector) else { return nil }
        selector = matcher
        if let names = term.namespaces, !names.isEmpty {
            namespaces = Set(names)
        } else if let nsSel = term.namespaceSelector, (nsSel.matchLabels ?? [:]).isEmpty, (nsSel.matchExpressions ?? []).isEmpty {
            namespaces = nil
        } else {
            // A non-empty namespaceSelector would need namespace labels; the own namespace is the safe reading.
            namespaces = [ownNamespace]
        }
        topologyKey = term.topologyKey
        self.weight = weight
        signature = Self.signature(selector, namespaces, topologyKey)
    }

    static func signature(_ selector: LabelSelectorMatcher, _ namespaces: Set<String>?, _ topologyKey: String) -> String {
        "\(namespaces.map { $0.sorted().joined(separator: ",") } ?? "*")|\(selector.matchesNothing ? "<none>" : selector.description)|\(topologyKey)"
    }

    func matches(namespace: String, labels: [String: String]) -> Bool {
        if let namespaces, !namespaces.contains(namespace) { return false }
        return selector.matches(labels)
    }
}

/// What the scheduler keeps about one pod: requests, ports, labels, and its required anti-affinity
/// (existing pods' anti-affinity constrains newcomers, so it is indexed).
public struct PodInfo: Sendable {
    public var key: PodKey
    public var uid: String?
    public var labels: [String: String]
    public var nodeName: String?
    public var requests: ResourceAmounts
    public var hostPorts: [HostPort]
    public var priority: Int32
    var requiredAntiAffinity: [AffinityTerm]
    var preferredAffinity: [AffinityTerm]
    var preferredAntiAffinity: [AffinityTerm]

    public init(_ pod: Pod) {
        key = PodKey(pod)
        uid = pod.metadata?.uid
        labels = pod.metadata?.labels ?? [:]
        nodeName = pod.spec?.nodeName
        let spec = pod.spec ?? PodSpec()
        requests = ResourceAmounts(PodResources.requests(spec))
        hostPorts = PodResources.hostPorts(spec).map { HostPort(proto: $0.proto, hostIP: $0.hostIP, port: $0.port) }
        priority = spec.priority ?? 0
        let ns = key.namespace
        requiredAntiAffinity = (spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
            .compactMap { AffinityTerm($0, ownNamespace: ns) }
        preferredAffinity = (spec.affinity?.podAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
            .compactMap { AffinityTerm($0.podAffinityTerm, ownNamespace: ns, weight: $0.weight) }
        preferredAntiAffinity = (spec.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution ?? [])
            .compactMap { AffinityTerm($0.podAffinityTerm, ownNamespace: ns, weight: $0.weight) }
    }
}

/// One node with its precomputed aggregates.
public struct NodeInfo: Sendable {
    public var name: String
    public var labels: [String: String]
    public var unschedulable: Bool
    /// NoSchedule and NoExecute taints, including the not-ready/unreachable taint implied by the Ready condition.
    public var hardTaints: [Taint]
    public var preferNoScheduleTaints: [Taint]
    public var allocatable: ResourceAmounts
    public var allowedPodNumber: Int
    public var requested = ResourceAmounts()
    public var podCount = 0
    public var usedPorts: [HostPort] = []
    public var pods: [PodKey] = []

    public init(_ node: Node) {
        name = node.metadata?.name ?? ""
        labels = node.metadata?.labels ?? [:]
        unschedulable = node.spec?.unschedulable ?? false
        let taints = node.spec?.taints ?? []
        hardTaints = taints.filter { $0.effect == "NoSchedule" || $0.effect == "NoExecute" }
        preferNoScheduleTaints = taints.filter { $0.effect == "PreferNoSchedule" }
        // The node lifecycle controller taints nodes that are not Ready; until it has, imply the same taint
        // so a stale Ready condition never attracts new pods.
        let ready = node.status?.conditions?.first(ofType: "Ready")
        let implied: String? = switch ready?.status {
        case "True": nil
        case "False": NodeLifecycle.notReadyTaintKey
        default: NodeLifecycle.unreachableTaintKey
        }
        if let implied, !hardTaints.contains(where: { $0.key == implied }) {
            hardTaints.append(Taint(key: implied, effect: "NoSchedule"))
        }
        let list = node.status?.allocatable ?? node.status?.capacity ?? [:]
        allocatable = ResourceAmounts(list)
        allowedPodNumber = Int(list["pods"]?.value ?? 110)
    }

    mutating func add(_ pod: PodInfo) {
        requested.add(pod.requests)
        podCount += 1
        usedPorts.append(contentsOf: pod.hostPorts)
        pods.append(pod.key)
    }

    mutating func remove(_ pod: PodInfo) {
        requested.add(pod.requests, sign: -1)
        podCount -= 1
        for p in pod.hostPorts {
            if let i = usedPorts.firstIndex(of: p) { usedPorts.remove(at: i) }
        }
        if let i = pods.firstIndex(of: pod.key) { pods.remove(at: i) }
    }
}

/// The numbers most filtering and scoring need, in a compact trivially-copyable form so the hot loop
/// over nodes touches no reference counts.
public struct NodeFit: Sendable, Equatable {
    public var allocatableCPU: Int64 = 0
    public var requestedCPU: Int64 = 0
    public var allocatableMemory: Int64 = 0
    public var requestedMemory: Int64 = 0
    public var allowedPods = 0
    public var podCount = 0
    public var unschedulable = false
    public var hasHardTaints = false
    public var hasPreferNoSchedule = false

    init(_ n: NodeInfo) {
        allocatableCPU = n.allocatable.milliCPU
        requestedCPU = n.requested.milliCPU
        allocatableMemory = n.allocatable.memory
        requestedMemory = n.requested.memory
        allowedPods = n.allowedPodNumber
        podCount = n.podCount
        unschedulable = n.unschedulable
        hasHardTaints = !n.hardTaints.isEmpty
        hasPreferNoSchedule = !n.preferNoScheduleTaints.isEmpty
    }
}

/// The scheduler's view of the cluster: nodes, the pods bound to them, and indexes for affinity and
/// spreading. The shell rebuilds it from the store after a leader change and keeps it current from watches.
public struct SchedulingCache: Sendable {
    public private(set) var nodes: [NodeInfo] = []
    /// Parallel to `nodes`.
    public private(set) var fits: [NodeFit] = []
    var nodeIndex: [String: Int] = [:]
    public private(set) var pods: [PodKey: PodInfo] = [:]
    /// namespace → "key=value" → pods carrying that label, to find affinity and spreading peers fast.
    var labelIndex: [String: [String: Set<PodKey>]] = [:]
    var podsByNamespace: [String: Set<PodKey>] = [:]
    /// Pods with required anti-affinity: they restrict where newcomers may go.
    var podsWithRequiredAntiAffinity: Set<PodKey> = []
    var podsWithPreferredTerms: Set<PodKey> = []
    /// Existing pods' required anti-affinity, grouped by term: where (topology value → pod count) such pods run.
    /// Newcomers check each distinct term once instead of every pod.
    var antiAffinityGroups: [String: (term: AffinityTerm, domainCounts: [Int32: Int])] = [:]
    /// Existing pods' preferred affinity (+) and anti-affinity (−) terms grouped by term: the summed weight per
    /// topology value. A newcomer reads each distinct term once instead of every pod that has one.
    var preferredGroups: [String: (term: AffinityTerm, domainWeights: [Int32: Int])] = [:]
    /// Pods bound to a node the cache does not know (yet); they count once the node appears.
    var orphanedPods: Set<PodKey> = []
    /// Node labels as integer columns, parallel to `nodes`.
    var labelColumns = NodeLabelColumns()
    /// Fixed-filter results per distinct set of tolerations and node constraints; cleared when nodes change.
    var filterMemos: [NodeFilterMemo] = []
    /// Pending pods' own terms (affinity, anti-affinity, spread): matching pods per domain, by signature.
    var termCounts: [String: TermCounts] = [:]
    /// "key=value" → signatures of counted terms whose first equality requirement is that label.
    var termBuckets: [String: [String]] = [:]
    var unbucketedTerms: [String] = []
    var termUse = 0

    public init() {}

    public init(nodes: [Node], pods: [Pod]) {
        for n in nodes { upsertNode(n) }
        for p in pods { addPod(p) }
    }

    public var nodeCount: Int { nodes.count }
    public func node(named name: String) -> NodeInfo? { nodeIndex[name].map { nodes[$0] } }
    public func pod(_ key: PodKey) -> PodInfo? { pods[key] }

    mutating func countAntiAffinity(_ info: PodInfo, _ delta: Int) {
        guard let node = info.nodeName else { return }
        for term in info.requiredAntiAffinity {
            guard let value = labelValue(term.topologyKey, onNode: node) else { continue }
            let sig = term.signature
            if antiAffinityGroups[sig] == nil { antiAffinityGroups[sig] = (term, [:]) }
            let n = (antiAffinityGroups[sig]?.domainCounts[value] ?? 0) + delta
            antiAffinityGroups[sig]?.domainCounts[value] = n > 0 ? n : nil
        }
    }

    mutating func countPreferred(_ info: PodInfo, _ delta: Int) {
        guard let node = info.nodeName else { return }
        for (terms, sign) in [(info.preferredAffinity, 1), (info.preferredAntiAffinity, -1)] {
            for term in terms {
                guard let value = labelValue(term.topologyKey, onNode: node) else { continue }
                let sig = (sign > 0 ? "+" : "-") + term.signature
                if preferredGroups[sig] == nil { preferredGroups[sig] = (term, [:]) }
                let w = (preferredGroups[sig]?.domainWeights[value] ?? 0) + delta * sign * term.weight
                preferredGroups[sig]?.domainWeights[value] = w != 0 ? w : nil
            }
        }
    }

    var hasTermGroups: Bool { !podsWithRequiredAntiAffinity.isEmpty || !podsWithPreferredTerms.isEmpty || !termCounts.isEmpty }

    /// After node labels change or nodes come and go.
    mutating func rebuildAntiAffinityGroups() {
        recountTerms()
        antiAffinityGroups = [:]
        for key in podsWithRequiredAntiAffinity.sorted() { if let p = pods[key] { countAntiAffinity(p, 1) } }
        preferredGroups = [:]
        for key in podsWithPreferredTerms.sorted() { if let p = pods[key] { countPreferred(p, 1) } }
    }

    public mutating func upsertNode(_ node: Node) {
        var info = NodeInfo(node)
        if let i = nodeIndex[info.name] {
            let old = nodes[i]
            info.requested = old.requested
            info.podCount = old.podCount
            info.usedPorts = old.usedPorts
            info.pods = old.pods
            let relabelled = old.labels != info.labels
            if relabelled || old.unschedulable != info.unschedulable || old.hardTaints != info.hardTaints { filterMemos = [] }
            nodes[i] = info
            fits[i] = NodeFit(info)
            if relabelled { labelColumns.setLabels(node: i, info.labels) }
            if relabelled && hasTermGroups { rebuildAntiAffinityGroups() }
        } else {
            filterMemos = []
            nodeIndex[info.name] = nodes.count
            nodes.append(info)
            fits.append(NodeFit(info))
            labelColumns.appendNode(labels: info.labels)
            let waiting = orphanedPods.filter { pods[$0]?.nodeName == info.name }
            for key in waiting.sorted() {
                orphanedPods.remove(key)
                if let p = pods[key] { nodes[nodes.count - 1].add(p) }
            }
            fits[nodes.count - 1] = NodeFit(nodes[nodes.count - 1])
            if !waiting.isEmpty && hasTermGroups { rebuildAntiAffinityGroups() }
        }
    }

    public mutating func removeNode(named name: String) {
        guard let i = nodeIndex[name] else { return }
        for key in nodes[i].pods { orphanedPods.insert(key) }
        nodeIndex[name] = nil
        let last = nodes.count - 1
        if i != last {
            nodes.swapAt(i, last)
            fits.swapAt(i, last)
            nodeIndex[nodes[i].name] = i
        }
        nodes.removeLast()
        fits.removeLast()
        labelColumns.removeNode(at: i)
        filterMemos = []
        if hasTermGroups { rebuildAntiAffinityGroups() }
    }

    /// Adds (or replaces) a pod. Only pods bound to a node and not terminal count.
    public mutating func addPod(_ pod: Pod) {
        let key = PodKey(pod)
        removePod(key)
        guard let nodeName = pod.spec?.nodeName, !nodeName.isEmpty, !pod.isTerminal else { return }
        insert(PodInfo(pod), onto: nodeName)
    }

    /// Records a pod as running on `nodeName` ("assume" in kube-scheduler): later decisions see it.
    public mutating func assume(_ info: PodInfo, onto nodeName: String) {
        removePod(info.key)
        insert(info, onto: nodeName)
    }

    mutating func insert(_ info: PodInfo, onto nodeName: String) {
        var info = info
        info.nodeName = nodeName
        let key = info.key
        pods[key] = info
        podsByNamespace[key.namespace, default: []].insert(key)
        for (k, v) in info.labels { labelIndex[key.namespace, default: [:]][k + "=" + v, default: []].insert(key) }
        if !info.requiredAntiAffinity.isEmpty {
            podsWithRequiredAntiAffinity.insert(key)
            countAntiAffinity(info, 1)
        }
        if !info.preferredAffinity.isEmpty || !info.preferredAntiAffinity.isEmpty {
            podsWithPreferredTerms.insert(key)
            countPreferred(info, 1)
        }
        if let i = nodeIndex[nodeName] {
            nodes[i].add(info)
            fits[i] = NodeFit(nodes[i])
            countTerms(info, node: i, 1)
        } else {
            orphanedPods.insert(key)
        }
    }

    public mutating func removePod(_ key: PodKey) {
        guard let info = pods.removeValue(forKey: key) else { return }
        podsByNamespace[key.namespace]?.remove(key)
        for (k, v) in info.labels { labelIndex[key.namespace]?[k + "=" + v]?.remove(key) }
        if podsWithRequiredAntiAffinity.remove(key) != nil { countAntiAffinity(info, -1) }
        if podsWithPreferredTerms.remove(key) != nil { countPreferred(info, -1) }
        orphanedPods.remove(key)
        if let n = info.nodeName, let i = nodeIndex[n] {
            nodes[i].remove(info)
            fits[i] = NodeFit(nodes[i])
            countTerms(info, node: i, -1)
        }
    }

    /// Pods a term selects, using the label index when the selector has an equality requirement.
    func pods(matching term: AffinityTerm) -> [PodInfo] {
        let namespaces: [String] = term.namespaces.map { Array($0) } ?? Array(podsByNamespace.keys)
        var out: [PodInfo] = []
        let eq = term.selector.requirements.first { $0.op == .equals || $0.op == .doubleEquals || ($0.op == .in && $0.values.count == 1) }
        for ns in namespaces {
            let candidates: Set<PodKey>?
            if term.selector.matchesNothing {
                candidates = nil
            } else if let eq {
                candidates = labelIndex[ns]?[eq.key + "=" + (eq.values.first ?? "")]
            } else {
                candidates = podsByNamespace[ns]
            }
            for key in candidates ?? [] {
                if let p = pods[key], term.selector.matches(p.labels) { out.append(p) }
            }
        }
        return out
    }
}
