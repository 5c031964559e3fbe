import ResourceModel

/// Node labels as small integers: label keys and values get ids, and each key has one column
/// (node index → value id, `absent` where the node lacks the label). Topology rules then compare
/// integers in the per-node loop instead of hashing strings.
struct NodeLabelColumns: Sendable {
    static let absent: Int32 = -1

    private(set) var keyIDs: [String: Int] = [:]
    private(set) var valueIDs: [String: Int32] = [:]
    /// keyID → node index → value id.
    private(set) var columns: [[Int32]] = []
    /// keyID → value id → how many nodes carry it: the topology domains that exist.
    private(set) var domainNodes: [[Int32: Int]] = []
    private(set) var nodeCount = 0

    func keyID(_ key: String) -> Int? { keyIDs[key] }

    /// The value id of `key` on node `index`, or nil.
    func value(_ keyID: Int, node index: Int) -> Int32? {
        let v = columns[keyID][index]
        return v == Self.absent ? nil : v
    }

    /// An id for `key`, with a column of `absent` for every node if it is new.
    mutating func internKey(_ key: String) -> Int {
        if let id = keyIDs[key] { return id }
        let id = columns.count
        keyIDs[key] = id
        columns.append([Int32](repeating: Self.absent, count: nodeCount))
        domainNodes.append([:])
        return id
    }

    mutating func internValue(_ value: String) -> Int32 {
        if let id = valueIDs[value] { return id }
        let id = Int32(valueIDs.count)
        valueIDs[value] = id
        return id
    }

    mutating func appendNode(labels: [String: String]) {
        for c in columns.indices { columns[c].append(Self.absent) }
        nodeCount += 1
        setLabels(node: nodeCount - 1, labels)
    }

    mutating func setLabels(node index: Int, _ labels: [String: String]) {
        clear(node: index)
        for (k, v) in labels {
            let key = internKey(k), value = internValue(v)
            columns[key][index] = value
            domainNodes[key][value, default: 0] += 1
        }
    }

    mutating func clear(node index: Int) {
        for c in columns.indices {
            let v = columns[c][index]
            guard v != Self.absent else { continue }
            let left = (domainNodes[c][v] ?? 1) - 1
            domainNodes[c][v] = left > 0 ? left : nil
            columns[c][index] = Self.absent
        }
    }

    /// Mirrors `SchedulingCache.removeNode`: the last node takes the removed one's index.
    mutating func removeNode(at index: Int) {
        clear(node: index)
        let last = nodeCount - 1
        for c in columns.indices {
            if index != last { columns[c].swapAt(index, last) }
            columns[c].removeLast()
        }
        nodeCount -= 1
    }
}

/// Per topology domain, how many bound pods a term selects. Registered the first time a pending pod
/// asks (its own affinity, anti-affinity or spread term) and kept current on every bind and removal,
/// where kube-scheduler recounts them for each pod in PreFilter.
struct TermCounts: Sendable {
    var term: AffinityTerm
    var keyID: Int
    /// Value id → matching pods; no zero entries.
    var counts: [Int32: Int] = [:]
    /// When a pending pod last used it (a use counter), to forget terms no pod asks about any more.
    var lastUsed = 0
}

/// A term's counts read at one moment: the column of its topology key beside the per-domain numbers.
struct DomainCounts {
    var column: [Int32]
    var counts: [Int32: Int]

    /// The value id at node `index`, or nil where the node lacks the topology label.
    @inline(__always)
    func domain(_ index: Int) -> Int32? {
        let v = column[index]
        return v == NodeLabelColumns.absent ? nil : v
    }

    @inline(__always)
    func count(_ index: Int) -> Int {
        let v = column[index]
        return v == NodeLabelColumns.absent ? 0 : counts[v] ?? 0
    }
}

/// The pass/fail of a node's fixed filters (unschedulable, taints, node selector and required node
/// affinity) for one set of tolerations and node constraints. Those change only when nodes change, and
/// most pods share a few such sets, so each set is evaluated once per node rather than once per pod.
struct NodeFilterMemo: Sendable {
    static let unschedulable: UInt8 = 1
    static let taint: UInt8 = 2
    static let nodeAffinity: UInt8 = 4

    var tolerations: [Toleration]
    var nodeSelector: [String: String]
    var requiredNodeAffinity: NodeSelector?
    /// Node index → failure bits (0: passes).
    var mask: [UInt8]

    func isFor(_ tolerations: [Toleration], _ nodeSelector: [String: String], _ required: NodeSelector?) -> Bool {
        self.tolerations == tolerations && self.nodeSelector == nodeSelector && requiredNodeAffinity == required
    }
}

extension SchedulingCache {
    static let maxFilterMemos = 32
    static let maxTermCounts = 1024

    /// The fixed-filter bits of every node for these tolerations and node constraints (memoised).
    mutating func nodeFilterMask(tolerations: [Toleration], nodeSelector: [String: String], required: NodeSelector?) -> [UInt8] {
        if let memo = filterMemos.first(where: { $0.isFor(tolerations, nodeSelector, required) }) { return memo.mask }
        let unschedulableTaint = Taint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")
        let toleratesUnschedulable = tolerations.contains { $0.tolerates(unschedulableTaint) }
        var mask = [UInt8](repeating: 0, count: nodes.count)
        for i in nodes.indices {
            var bits: UInt8 = 0
            let node = nodes[i]
            if node.unschedulable && !toleratesUnschedulable { bits |= NodeFilterMemo.unschedulable }
            for t in node.hardTaints where !tolerations.contains(where: { $0.tolerates(t) }) {
                bits |= NodeFilterMemo.taint
                break
            }
            if !PodContext.passesNodeConstraints(node, nodeSelector: nodeSelector, required: required) { bits |= NodeFilterMemo.nodeAffinity }
            mask[i] = bits
        }
        if filterMemos.count >= Self.maxFilterMemos { filterMemos.removeFirst() }
        filterMemos.append(NodeFilterMemo(tolerations: tolerations, nodeSelector: nodeSelector, requiredNodeAffinity: required, mask: mask))
        return mask
    }

    /// The per-domain counts of pods `term` selects, registering the term if it is new.
    mutating func domainCounts(for term: AffinityTerm) -> DomainCounts {
        termUse += 1
        if termCounts[term.signature] == nil {
            if termCounts.count >= Self.maxTermCounts { forgetOldTermCounts() }
            var entry = TermCounts(term: term, keyID: labelColumns.internKey(term.topologyKey))
            for p in pods(matching: term) {
                if let n = p.nodeName, let i = nodeIndex[n], let v = labelColumns.value(entry.keyID, node: i) { entry.counts[v, default: 0] += 1 }
            }
            termCounts[term.signature] = entry
            indexTerm(term)
        }
        termCounts[term.signature]?.lastUsed = termUse
        let entry = termCounts[term.signature]
        return DomainCounts(column: labelColumns.columns[entry?.keyID ?? labelColumns.internKey(term.topologyKey)], counts: entry?.counts ?? [:])
    }

    /// The column of `key` (interned, so a key no node has yet reads as absent everywhere).
    mutating func column(_ key: String) -> [Int32] { labelColumns.columns[labelColumns.internKey(key)] }

    /// Terms are found from a pod's labels by their first equality requirement; the rest are always checked.
    func termBucket(_ term: AffinityTerm) -> String? {
        guard let eq = term.selector.requirements.first(where: { $0.op == .equals || $0.op == .doubleEquals || ($0.op == .in && $0.values.count == 1) }),
              let value = eq.values.first else { return nil }
        return eq.key + "=" + value
    }

    mutating func indexTerm(_ term: AffinityTerm) {
        if term.selector.matchesNothing { return }
        if let bucket = termBucket(term) { termBuckets[bucket, default: []].append(term.signature) } else { unbucketedTerms.append(term.signature) }
    }

    mutating func forgetOldTermCounts() {
        let keep = termCounts.values.map(\.lastUsed).sorted(by: >).prefix(Self.maxTermCounts / 2).last ?? 0
        termCounts = termCounts.filter { $0.value.lastUsed >= keep && $0.value.lastUsed > 0 }
        termBuckets = [:]
        unbucketedTerms = []
        for sig in termCounts.keys.sorted() { if let t = termCounts[sig]?.term { indexTerm(t) } }
    }

    /// Adds or removes `info` (bound to node index `node`) in the counts of every term that selects it.
    mutating func countTerms(_ info: PodInfo, node: Int, _ delta: Int) {
        guard !termCounts.isEmpty else { return }
        var sigs: [String] = unbucketedTerms
        for (k, v) in info.labels { if let b = termBuckets[k + "=" + v] { sigs += b } }
        for sig in sigs {
            guard let entry = termCounts[sig], entry.term.matches(namespace: info.key.namespace, labels: info.labels),
                  let value = labelColumns.value(entry.keyID, node: node) else { continue }
            let n = (entry.counts[value] ?? 0) + delta
            termCounts[sig]?.counts[value] = n > 0 ? n : nil
        }
    }

    /// After node labels change or nodes come and go: every term counted again.
    mutating func recountTerms() {
        for sig in termCounts.keys.sorted() {
            guard var entry = termCounts[sig] else { continue }
            entry.counts = [:]
            for p in pods(matching: entry.term) {
                if let n = p.nodeName, let i = nodeIndex[n], let v = labelColumns.value(entry.keyID, node: i) { entry.counts[v, default: 0] += 1 }
            }
            termCounts[sig] = entry
        }
    }

    /// The label value id of `key` on the node named `name`.
    func labelValue(_ key: String, onNode name: String) -> Int32? {
        guard let i = nodeIndex[name], let k = labelColumns.keyID(key) else { return nil }
        return labelColumns.value(k, node: i)
    }
}
