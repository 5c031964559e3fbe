@testable import Placement
import ResourceModel
import Simulation
import Testing

/// The scheduler's indexes (label columns, per-term domain counts, grouped existing terms, the fixed-filter
/// memo) against brute force over the same random clusters: after random binds, removals, relabels and
/// node churn, every node's verdict and every preference score must equal a scan of all pods and labels.
@Suite struct PlacementIndexTests {
    static let zones = ["a", "b", "c"]
    static let apps = ["x", "y", "z"]

    static func pick<T>(_ items: [T], _ rng: inout SeededRandom) -> T { items[Int(rng.next() % UInt64(items.count))] }
    static func chance(_ percent: UInt64, _ rng: inout SeededRandom) -> Bool { rng.next() % 100 < percent }

    static func randomNode(_ i: Int, _ rng: inout SeededRandom) -> Node {
        var labels: [String: String] = [:]
        if chance(85, &rng) { labels["zone"] = pick(zones, &rng) }
        if chance(50, &rng) { labels["rack"] = pick(["r1", "r2"], &rng) }
        if chance(30, &rng) { labels["disk"] = "ssd" }
        let taints = chance(20, &rng) ? [Taint(key: "dedicated", value: pick(["batch", "gpu"], &rng), effect: "NoSchedule")] : []
        return makeNode("n\(i)", cpu: pick(["1", "2", "4"], &rng), memory: "4Gi", pods: pick(["3", "6", "110"], &rng), labels: labels,
                        taints: taints, ready: chance(92, &rng) ? "True" : "False", unschedulable: chance(8, &rng))
    }

    static func randomTerm(_ rng: inout SeededRandom) -> JSONValue {
        var selector: JSONValue = ["matchLabels": selectorJSON(["app": pick(apps, &rng)])]
        if chance(25, &rng) {
            selector = ["matchExpressions": [requirementJSON("tier", "In", [pick(["fe", "be"], &rng)])]]
        }
        var term: JSONValue = ["labelSelector": selector, "topologyKey": .string(pick(["zone", "kubernetes.io/hostname", "rack"], &rng))]
        if chance(15, &rng) { term["namespaces"] = ["default", "other"] }
        return term
    }

    /// A pod with random labels and, often, random scheduling rules.
    static func randomPod(_ name: String, _ rng: inout SeededRandom, node: String? = nil) -> Pod {
        var labels = ["app": pick(apps, &rng)]
        if chance(50, &rng) { labels["tier"] = pick(["fe", "be"], &rng) }
        let namespace = chance(85, &rng) ? "default" : "other"
        var pod = makePod(name, namespace: namespace, cpu: pick(["100m", "500m", "1"], &rng), memory: "256Mi", labels: labels, node: node)
        var affinity: [String: JSONValue] = [:]
        if chance(30, &rng) { affinity["podAntiAffinity", default: [:]]["requiredDuringSchedulingIgnoredDuringExecution"] = [randomTerm(&rng)] }
        if chance(15, &rng) { affinity["podAffinity", default: [:]]["requiredDuringSchedulingIgnoredDuringExecution"] = [randomTerm(&rng)] }
        if chance(30, &rng) {
            affinity["podAntiAffinity", default: [:]]["preferredDuringSchedulingIgnoredDuringExecution"] =
                [["weight": .int(Int64(1 + rng.next() % 100)), "podAffinityTerm": randomTerm(&rng)]]
        }
        if chance(20, &rng) {
            affinity["podAffinity", default: [:]]["preferredDuringSchedulingIgnoredDuringExecution"] =
                [["weight": .int(Int64(1 + rng.next() % 100)), "podAffinityTerm": randomTerm(&rng)]]
        }
        let spread: [JSONValue] = chance(35, &rng) ? [[
            "maxSkew": .int(Int64(1 + rng.next() % 2)), "topologyKey": .string(pick(["zone", "rack"], &rng)),
            "whenUnsatisfiable": .string(chance(50, &rng) ? "DoNotSchedule" : "ScheduleAnyway"),
            "labelSelector": ["matchLabels": selectorJSON(["app": pick(apps, &rng)])],
        ]] : []
        let tolerate = chance(30, &rng)
        let zoneSelector = chance(20, &rng) ? pick(zones, &rng) : nil
        pod = pod.with { spec in
            if !affinity.isEmpty { spec.affinity = decoded(.object(JSONObject(affinity.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }))) }
            if !spread.isEmpty { spec.topologySpreadConstraints = decoded(.array(spread)) }
            if tolerate { spec.tolerations = [Toleration(key: "dedicated", operator: "Exists")] }
            if let zoneSelector { spec.nodeSelector = ["zone": zoneSelector] }
        }
        return pod
    }

    // MARK: Brute force

    struct Bound {
        var info: PodInfo
        var node: NodeInfo
    }

    static func boundPods(_ cache: SchedulingCache) -> [Bound] {
        cache.pods.values.compactMap { p in p.nodeName.flatMap { cache.node(named: $0) }.map { Bound(info: p, node: $0) } }
    }

    static func sameDomain(_ a: NodeInfo, _ b: NodeInfo, _ key: String) -> Bool {
        guard let x = a.labels[key], let y = b.labels[key] else { return false }
        return x == y
    }

    /// kube-scheduler's filters by their definition: every label read as a string, every pod scanned.
    static func bruteFits(_ pod: Pod, on node: NodeInfo, cache: SchedulingCache) -> Bool {
        let spec = pod.spec ?? PodSpec()
        let me = PodInfo(pod)
        let tolerations = spec.tolerations ?? []
        if node.unschedulable && !tolerations.contains(where: { $0.tolerates(Taint(key: "node.kubernetes.io/unschedulable", effect: "NoSchedule")) }) {
            return false
        }
        for t in node.hardTaints where !tolerations.contains(where: { $0.tolerates(t) }) { return false }
        let required = spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
        func eligible(_ n: NodeInfo) -> Bool { PodContext.passesNodeConstraints(n, nodeSelector: spec.nodeSelector ?? [:], required: required) }
        if !eligible(node) { return false }
        if node.podCount + 1 > node.allowedPodNumber { return false }
        if node.requested.milliCPU + me.requests.milliCPU > node.allocatable.milliCPU { return false }
        if node.requested.memory + me.requests.memory > node.allocatable.memory { return false }
        let bound = boundPods(cache)
        for c in spec.topologySpreadConstraints ?? [] where c.whenUnsatisfiable == "DoNotSchedule" {
            guard let value = node.labels[c.topologyKey] else { return false }
            // justified: random constraints carry valid selectors
            let matcher = try! LabelSelectorMatcher.from(c.labelSelector)
            var counts: [String: Int] = [:]
            for n in cache.nodes where eligible(n) { if let v = n.labels[c.topologyKey] { counts[v] = 0 } }
            for b in bound where b.info.key.namespace == me.key.namespace && matcher.matches(b.info.labels) && eligible(b.node) {
                if let v = b.node.labels[c.topologyKey] { counts[v, default: 0] += 1 }
            }
            let minCount = counts.values.min() ?? 0
            if (counts[value] ?? 0) + (matcher.matches(me.labels) ? 1 : 0) - minCount > max(1, c.maxSkew) { return false }
        }
        for b in bound {
            for t in b.info.requiredAntiAffinity where t.matches(namespace: me.key.namespace, labels: me.labels) {
                if sameDomain(b.node, node, t.topologyKey) { return false }
            }
        }
        for t in me.requiredAntiAffinity {
            if bound.contains(where: { t.matches(namespace: $0.info.key.namespace, labels: $0.info.labels) && sameDomain($0.node, node, t.topologyKey) }) {
                return false
            }
        }
        let affinity = (spec.affinity?.podAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [])
            .compactMap { AffinityTerm($0, ownNamespace: me.key.namespace) }
        let anyMatch = affinity.contains { t in cache.pods.values.contains { t.matches(namespace: $0.key.namespace, labels: $0.labels) } }
        if !affinity.isEmpty && !anyMatch && affinity.allSatisfy({ $0.matches(namespace: me.key.namespace, labels: me.labels) }) {
            return affinity.allSatisfy { node.labels[$0.topologyKey] != nil }
        }
        for t in affinity {
            if !bound.contains(where: { t.matches(namespace: $0.info.key.namespace, labels: $0.info.labels) && sameDomain($0.node, node, t.topologyKey) }) {
                return false
            }
        }
        return true
    }

    /// InterPodAffinity's raw score: own preferred terms over matching pods, plus existing pods' preferred terms
    /// that select this pod, each counted where the domains agree.
    static func brutePreferredScore(_ pod: Pod, on node: NodeInfo, cache: SchedulingCache) -> Int {
        let me = PodInfo(pod)
        let bound = boundPods(cache)
        var s = 0
        for (terms, sign) in [(me.preferredAffinity, 1), (me.preferredAntiAffinity, -1)] {
            for t in terms {
                for b in bound where t.matches(namespace: b.info.key.namespace, labels: b.info.labels) && sameDomain(b.node, node, t.topologyKey) {
                    s += sign * t.weight
                }
            }
        }
        for b in bound {
            for (terms, sign) in [(b.info.preferredAffinity, 1), (b.info.preferredAntiAffinity, -1)] {
                for t in terms where t.matches(namespace: me.key.namespace, labels: me.labels) && sameDomain(b.node, node, t.topologyKey) {
                    s += sign * t.weight
                }
            }
        }
        return s
    }

    static func check(_ pending: [Pod], cache: inout SchedulingCache) -> Int {
        var compared = 0
        for pod in pending {
            let ctx = PodContext(pod, cache: &cache)
            for idx in cache.nodes.indices {
                let node = cache.nodes[idx]
                let expected = bruteFits(pod, on: node, cache: cache)
                #expect(ctx.filter(at: idx, cache: cache).fits == expected, "filter \(PodKey(pod)) on \(node.name)")
                #expect(ctx.feasible(idx, cache.fits[idx], cache: cache) == expected, "fast path \(PodKey(pod)) on \(node.name)")
                #expect(ctx.preferredPodScore(idx) == brutePreferredScore(pod, on: node, cache: cache), "score \(PodKey(pod)) on \(node.name)")
                compared += 1
            }
        }
        return compared
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func indexesAgreeWithBruteForce(seed: UInt64) {
        var rng = SeededRandom(seed: seed)
        var cache = SchedulingCache()
        var nextNode = 0
        for _ in 0..<10 {
            cache.upsertNode(Self.randomNode(nextNode, &rng))
            nextNode += 1
        }
        // Pending pods whose terms get registered early, so the counts must then follow every change.
        let probes = (0..<12).map { Self.randomPod("probe-\($0)", &rng) }
        var compared = Self.check(probes, cache: &cache)
        var names: [String] = []
        for step in 0..<160 {
            let roll = rng.next() % 100
            let nodeNames = cache.nodes.map(\.name)
            if roll < 55 || names.isEmpty, let target = nodeNames.isEmpty ? nil : Self.pick(nodeNames, &rng) {
                let name = "p\(step)"
                cache.addPod(Self.randomPod(name, &rng, node: target))
                names.append(name)
            } else if roll < 70 {
                let i = Int(rng.next() % UInt64(names.count))
                cache.removePod(PodKey(namespace: "default", name: names[i]))
                cache.removePod(PodKey(namespace: "other", name: names[i]))
                names.remove(at: i)
            } else if roll < 80, !nodeNames.isEmpty {
                // Relabel (or retaint) an existing node.
                var node = Self.randomNode(nextNode, &rng)
                let name = Self.pick(nodeNames, &rng)
                node.metadata?.name = name
                node.metadata?.labels?["kubernetes.io/hostname"] = name
                cache.upsertNode(node)
            } else if roll < 86, !nodeNames.isEmpty {
                cache.removeNode(named: Self.pick(nodeNames, &rng))
            } else if roll < 92 {
                // A new node, or one that left coming back (its pods count again).
                let name = Self.chance(50, &rng) ? nextNode : Int(rng.next() % UInt64(nextNode + 1))
                cache.upsertNode(Self.randomNode(name, &rng))
                nextNode = max(nextNode, name + 1)
            } else {
                // Assume a pending pod onto a random node, as the scheduler does.
                if let target = nodeNames.isEmpty ? nil : Self.pick(nodeNames, &rng) {
                    let name = "a\(step)"
                    cache.assume(PodInfo(Self.randomPod(name, &rng)), onto: target)
                    names.append(name)
                }
            }
            if step % 20 == 19 { compared += Self.check(probes + [Self.randomPod("late-\(step)", &rng)], cache: &cache) }
        }
        #expect(compared > 300)
    }

    /// The incremental counts equal a recount from scratch after random changes.
    @Test func termCountsEqualRecount() {
        var rng = SeededRandom(seed: 99)
        var cache = SchedulingCache(nodes: (0..<8).map { Self.randomNode($0, &rng) }, pods: [])
        for i in 0..<20 { _ = PodContext(Self.randomPod("probe-\(i)", &rng), cache: &cache) }
        #expect(!cache.termCounts.isEmpty)
        for step in 0..<200 {
            let target = "n\(rng.next() % 8)"
            if rng.next() % 3 == 0 {
                cache.removePod(PodKey(namespace: "default", name: "p\(rng.next() % UInt64(step + 1))"))
            } else {
                cache.addPod(Self.randomPod("p\(step)", &rng, node: target))
            }
            if step % 50 == 0 { cache.upsertNode(Self.randomNode(Int(rng.next() % 8), &rng)) }
        }
        let incremental = cache.termCounts.mapValues(\.counts)
        cache.recountTerms()
        #expect(cache.termCounts.mapValues(\.counts) == incremental)
        for (k, column) in cache.labelColumns.columns.enumerated() {
            let key = cache.labelColumns.keyIDs.first { $0.value == k }?.key ?? ""
            for (i, node) in cache.nodes.enumerated() {
                #expect(column[i] == (node.labels[key].flatMap { cache.labelColumns.valueIDs[$0] } ?? NodeLabelColumns.absent))
            }
        }
    }
}

extension PlacementIndexTests {
    /// The leader's order of events: nodes appear not ready, turn ready, and only later get the label the
    /// pending pods select; each change must reach the memoised node filters.
    @Test func nodeChangesReachTheFilterMemo() {
        var cache = SchedulingCache()
        var scheduler = Scheduler()
        var rng = SeededRandom(seed: 3)
        let pod = makePod("p").with { $0.nodeSelector = ["bench": "go"] }
        #expect(scheduler.schedule([pod], cache: &cache, using: &rng).failures.count == 1)
        for n in ["a", "b", "c"] { cache.upsertNode(makeNode(n, ready: "False")) }
        #expect(scheduler.schedule([pod], cache: &cache, using: &rng).bindings.isEmpty)
        for n in ["a", "b", "c"] { cache.upsertNode(makeNode(n)) }
        let unlabelled = scheduler.schedule([pod], cache: &cache, using: &rng)
        #expect(unlabelled.failures.first?.message == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")
        cache.upsertNode(makeNode("b", labels: ["bench": "go"]))
        #expect(boundNode(scheduler.schedule([pod], cache: &cache, using: &rng)) == "b")
    }
}
