import Placement
import ResourceModel
import Simulation
import Testing

@Suite struct SchedulerScoreTests {
    @Test func mostAllocatedPacksLeastAllocatedSpreads() {
        let nodes = [makeNode("a"), makeNode("b")]
        let existing = [makePod("x", cpu: "2", memory: "4Gi", node: "a")]
        for seed in 1...5 as ClosedRange<UInt64> {
            #expect(boundNode(scheduleOne(makePod("p"), nodes: nodes, existing: existing, policy: .mostAllocated, seed: seed)) == "a")
            #expect(boundNode(scheduleOne(makePod("p"), nodes: nodes, existing: existing, policy: .leastAllocated, seed: seed)) == "b")
        }
    }

    @Test func preferredNodeAffinity() {
        let nodes = [makeNode("a", labels: ["zone": "z1"]), makeNode("b", labels: ["zone": "z2"])]
        func pod(_ zone: String) -> Pod {
            let aff: Affinity = decoded(["nodeAffinity": ["preferredDuringSchedulingIgnoredDuringExecution": [
                ["weight": 50, "preference": ["matchExpressions": [requirementJSON("zone", "In", [zone])]]]]]])
            return makePod("p").with { $0.affinity = aff }
        }
        for seed in 1...5 as ClosedRange<UInt64> {
            #expect(boundNode(scheduleOne(pod("z2"), nodes: nodes, seed: seed)) == "b")
            #expect(boundNode(scheduleOne(pod("z1"), nodes: nodes, seed: seed)) == "a")
        }
    }

    @Test func preferNoScheduleTaintIsAvoided() {
        let nodes = [makeNode("a", taints: [Taint(key: "soft", effect: "PreferNoSchedule")]), makeNode("b")]
        for seed in 1...5 as ClosedRange<UInt64> {
            #expect(boundNode(scheduleOne(makePod("p"), nodes: nodes, seed: seed)) == "b")
            let tolerant = makePod("p").with { $0.tolerations = [Toleration(key: "soft", operator: "Exists")] }
            // Tolerated, the taint no longer matters and both nodes tie; every choice is valid.
            #expect(["a", "b"].contains(boundNode(scheduleOne(tolerant, nodes: nodes, seed: seed)) ?? ""))
        }
    }

    static func preferred(_ name: String, anti: Bool) -> Pod {
        let terms: JSONValue = ["preferredDuringSchedulingIgnoredDuringExecution": [
            ["weight": 100, "podAffinityTerm": podAffinityTermJSON(["app": "cache"], key: "zone")]]]
        let aff: Affinity = decoded(.object(JSONObject([(anti ? "podAntiAffinity" : "podAffinity", terms)])))
        return makePod(name, labels: ["app": "web"]).with { $0.affinity = aff }
    }

    @Test func preferredPodAffinityAndAntiAffinity() {
        let nodes = [makeNode("a", labels: ["zone": "z1"]), makeNode("b", labels: ["zone": "z2"])]
        let cache = [makePod("cache", labels: ["app": "cache"], node: "b")]
        for seed in 1...5 as ClosedRange<UInt64> {
            #expect(boundNode(scheduleOne(Self.preferred("w", anti: false), nodes: nodes, existing: cache, policy: .leastAllocated, seed: seed)) == "b")
            #expect(boundNode(scheduleOne(Self.preferred("w", anti: true), nodes: nodes, existing: cache, policy: .mostAllocated, seed: seed)) == "a")
        }
    }

    @Test func softTopologySpreadPrefersEmptierDomain() {
        let nodes = [makeNode("a", labels: ["zone": "z1"]), makeNode("b", labels: ["zone": "z2"])]
        let existing = [makePod("s0", labels: ["app": "s"], node: "a"), makePod("s1", labels: ["app": "s"], node: "a")]
        for seed in 1...5 as ClosedRange<UInt64> {
            // MostAllocated would pick "a"; the spread score (weight 2) outweighs it.
            #expect(boundNode(scheduleOne(SchedulerFilterTests.spreadPod("s2", hard: false), nodes: nodes, existing: existing, seed: seed)) == "b")
        }
        // ScheduleAnyway never filters.
        #expect(boundNode(scheduleOne(SchedulerFilterTests.spreadPod("s2", hard: false), nodes: [nodes[0]], existing: existing)) == "a")
    }

    @Test func tiesAreBrokenBySeededRandomness() {
        let nodes = (0..<8).map { makeNode("n\($0)") }
        var seen: Set<String> = []
        for seed in 1...40 as ClosedRange<UInt64> {
            if let n = boundNode(scheduleOne(makePod("p"), nodes: nodes, seed: seed)) { seen.insert(n) }
        }
        #expect(seen.count > 3)
        #expect(boundNode(scheduleOne(makePod("p"), nodes: nodes, seed: 7)) == boundNode(scheduleOne(makePod("p"), nodes: nodes, seed: 7)))
    }
}

@Suite struct SchedulerBatchTests {
    @Test func batchAccountsForEarlierDecisions() {
        var cache = SchedulingCache(nodes: [makeNode("a", cpu: "1"), makeNode("b", cpu: "1")], pods: [])
        var scheduler = Scheduler()
        var rng = SeededRandom(seed: 3)
        let pods = (0..<5).map { makePod("p\($0)", cpu: "400m") }
        let out = scheduler.schedule(pods, cache: &cache, using: &rng)
        #expect(out.bindings.count == 4)
        #expect(Dictionary(grouping: out.bindings, by: \.nodeName).mapValues(\.count) == ["a": 2, "b": 2])
        #expect(out.failures.map(\.message) == ["0/2 nodes are available: 2 Insufficient cpu."])
        #expect(cache.node(named: "a")?.requested.milliCPU == 800)
    }

    @Test func batchHonoursHostPortsAndAntiAffinityBetweenItsOwnPods() {
        var cache = SchedulingCache(nodes: SchedulerFilterTests.zonedNodes, pods: [])
        var scheduler = Scheduler()
        var rng = SeededRandom(seed: 9)
        let pods = (0..<3).map { SchedulerFilterTests.affinityPod("w\($0)", labels: ["app": "w"], anti: ["app": "w"]) }
        let out = scheduler.schedule(pods, cache: &cache, using: &rng)
        #expect(out.bindings.count == 2)
        #expect(Set(out.bindings.map { cache.node(named: $0.nodeName)?.labels["zone"] ?? "" }) == ["z1", "z2"])
        let ports = scheduler.schedule((0..<4).map { makePod("h\($0)", hostPort: 80) }, cache: &cache, using: &rng)
        #expect(ports.bindings.count == 3)
        #expect(Set(ports.bindings.map(\.nodeName)).count == 3)
    }

    @Test func higherPriorityFirstWithinBatch() {
        var cache = SchedulingCache(nodes: [makeNode("a", cpu: "1")], pods: [])
        var scheduler = Scheduler()
        var rng = SeededRandom(seed: 1)
        let out = scheduler.schedule([makePod("low", cpu: "800m", priority: 1), makePod("high", cpu: "800m", priority: 100)], cache: &cache, using: &rng)
        #expect(out.bindings.map(\.pod.name) == ["high"])
        #expect(out.failures.map(\.pod.name) == ["low"])
    }

    @Test func preemptionChoosesLowestVictimPriorityThenFewestVictims() {
        let nodes = [makeNode("a", cpu: "1"), makeNode("b", cpu: "1"), makeNode("c", cpu: "1")]
        let existing = [
            makePod("a1", cpu: "900m", node: "a", priority: 50),
            makePod("b1", cpu: "450m", node: "b", priority: 10), makePod("b2", cpu: "450m", node: "b", priority: 10),
            makePod("c1", cpu: "900m", node: "c", priority: 10),
        ]
        let out = scheduleOne(makePod("vip", cpu: "800m", priority: 100), nodes: nodes, existing: existing)
        #expect(out.bindings.isEmpty)
        #expect(out.preemptions == [PreemptionDecision(pod: PodKey(namespace: "default", name: "vip"), podUID: "uid-vip", nodeName: "c",
                                                      victims: [PodKey(namespace: "default", name: "c1")])])
        // Equal or higher priority pods are never victims.
        #expect(scheduleOne(makePod("peer", cpu: "800m", priority: 10), nodes: nodes, existing: existing).preemptions.isEmpty)
        // Preemption does not help against a selector mismatch.
        let pinned = makePod("vip", cpu: "800m", priority: 100).with { $0.nodeSelector = ["gpu": "yes"] }
        #expect(scheduleOne(pinned, nodes: nodes, existing: existing).preemptions.isEmpty)
    }

    @Test func preemptionReprievesVictimsThatAreNotNeeded() {
        let existing = [makePod("x", cpu: "300m", node: "a", priority: 5), makePod("y", cpu: "300m", node: "a", priority: 1),
                        makePod("z", cpu: "300m", node: "a", priority: 3)]
        let out = scheduleOne(makePod("vip", cpu: "400m", priority: 100), nodes: [makeNode("a", cpu: "1")], existing: existing)
        #expect(out.preemptions.first?.victims.map(\.name) == ["y"])
    }

    @Test func mostAllocatedBinPackingIsNearTheLowerBound() {
        for (nodeCount, podCount, cpu, mem) in [(100, 400, "700m", "1Gi"), (100, 900, "300m", "700Mi"), (80, 150, "1500m", "512Mi")] {
            var cache = SchedulingCache(nodes: (0..<nodeCount).map { makeNode("n\($0)", cpu: "4", memory: "8Gi") }, pods: [])
            var scheduler = Scheduler(configuration: SchedulerConfiguration(policy: .mostAllocated))
            var rng = SeededRandom(seed: UInt64(podCount))
            let out = scheduler.schedule((0..<podCount).map { makePod("p\($0)", cpu: cpu, memory: mem) }, cache: &cache, using: &rng)
            #expect(out.bindings.count == podCount)
            let used = Set(out.bindings.map(\.nodeName)).count
            // Per resource, with whole pods per node (the true lower bound for identical pods).
            let perNodeCPU = 4000 / Int(q(cpu).milliValue), perNodeMem = Int(q("8Gi").value / q(mem).value)
            let lowerBound = (podCount + min(perNodeCPU, perNodeMem) - 1) / min(perNodeCPU, perNodeMem)
            #expect(Double(used) <= Double(lowerBound) * 1.05, "used \(used) nodes, lower bound \(lowerBound)")
        }
    }

    @Test func alreadyBoundPodsAreNeverBoundAgain() {
        var cache = SchedulingCache(nodes: [makeNode("a"), makeNode("b")], pods: [])
        var scheduler = Scheduler()
        var rng = SeededRandom(seed: 1)
        let out = scheduler.schedule([makePod("p", node: "a")], cache: &cache, using: &rng)
        #expect(out.bindings.isEmpty && out.failures.isEmpty)
        let binding = Binding(pod: PodKey(namespace: "default", name: "q"), podUID: "uid-q", nodeName: "b")
        let pending: JSONValue = ["metadata": ["name": "q", "uid": "uid-q"], "spec": ["containers": []]]
        #expect(binding.boundPod(pending)?["spec"]?["nodeName"] == "b")
        #expect(binding.boundPod(ControllerSupportProbe.bound(pending, to: "a")) == nil)
        #expect(binding.boundPod(["metadata": ["name": "q", "uid": "other"]]) == nil)
    }

    @Test func cacheTracksNodeAndPodChanges() {
        var cache = SchedulingCache(nodes: [makeNode("a")], pods: [makePod("p", cpu: "1", node: "a"), makePod("q", cpu: "1", node: "ghost")])
        #expect(cache.node(named: "a")?.requested.milliCPU == 1000)
        cache.upsertNode(makeNode("ghost"))
        #expect(cache.node(named: "ghost")?.podCount == 1)
        cache.removePod(PodKey(namespace: "default", name: "p"))
        #expect(cache.node(named: "a")?.requested.milliCPU == 0)
        cache.upsertNode(makeNode("a", cpu: "8"))
        #expect(cache.node(named: "a")?.allocatable.milliCPU == 8000)
        cache.removeNode(named: "a")
        #expect(cache.nodeCount == 1)
        var done = makePod("done", node: "ghost")
        done.status = PodStatus()
        done.status?.phase = "Succeeded"
        cache.addPod(done)
        #expect(cache.pod(PodKey(namespace: "default", name: "done")) == nil)
    }
}

enum ControllerSupportProbe {
    static func bound(_ pod: JSONValue, to node: String) -> JSONValue {
        var p = pod
        p.set(.string(node), at: ["spec", "nodeName"])
        return p
    }
}
