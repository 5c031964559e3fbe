import Placement
import ResourceModel
import Simulation
import Testing

@Suite struct SchedulerFilterTests {
    @Test func resourcesFitAndInsufficient() {
        let nodes = [makeNode("a", cpu: "1", memory: "1Gi")]
        #expect(boundNode(scheduleOne(makePod("p", cpu: "500m", memory: "512Mi"), nodes: nodes)) == "a")
        let cpu = scheduleOne(makePod("p", cpu: "2", memory: "512Mi"), nodes: nodes)
        #expect(cpu.bindings.isEmpty)
        #expect(cpu.failures.first?.message == "0/1 nodes are available: 1 Insufficient cpu.")
        let both = scheduleOne(makePod("p", cpu: "2", memory: "2Gi"), nodes: nodes)
        #expect(both.failures.first?.message == "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.")
    }

    @Test func existingPodsCountAgainstAllocatable() {
        let nodes = [makeNode("a", cpu: "1")]
        let existing = [makePod("old", cpu: "800m", node: "a")]
        #expect(scheduleOne(makePod("p", cpu: "300m"), nodes: nodes, existing: existing).failures.first?.reasons == ["Insufficient cpu": 1])
        #expect(boundNode(scheduleOne(makePod("p", cpu: "200m"), nodes: nodes, existing: existing)) == "a")
    }

    @Test func tooManyPods() {
        let nodes = [makeNode("a", pods: "1")]
        #expect(scheduleOne(makePod("p"), nodes: nodes, existing: [makePod("x", node: "a")]).failures.first?.reasons == ["Too many pods": 1])
        #expect(boundNode(scheduleOne(makePod("p"), nodes: nodes)) == "a")
    }

    @Test func initContainersAreMaxedNotSummed() {
        let pod = makePod("p", cpu: "500m").with { spec in
            var ic = Container(name: "init")
            ic.resources = ResourceRequirements(requests: ["cpu": q("900m")])
            spec.initContainers = [ic]
        }
        #expect(boundNode(scheduleOne(pod, nodes: [makeNode("a", cpu: "1")])) == "a")
        #expect(scheduleOne(pod, nodes: [makeNode("a", cpu: "800m")]).failures.first?.reasons == ["Insufficient cpu": 1])
    }

    @Test func nodeSelector() {
        let nodes = [makeNode("a", labels: ["disk": "ssd"]), makeNode("b")]
        let pod = makePod("p").with { $0.nodeSelector = ["disk": "ssd"] }
        #expect(boundNode(scheduleOne(pod, nodes: nodes)) == "a")
        let none = scheduleOne(makePod("p").with { $0.nodeSelector = ["disk": "nvme"] }, nodes: nodes)
        #expect(none.failures.first?.message == "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector.")
    }

    @Test func requiredNodeAffinityExpressionsAndFields() {
        let nodes = [makeNode("a", labels: ["zone": "z1"]), makeNode("b", labels: ["zone": "z2"])]
        func pod(_ term: JSONValue) -> Pod { makePod("p").with { $0.affinity = nodeAffinityRequired(term) } }
        #expect(boundNode(scheduleOne(pod(["matchExpressions": [requirementJSON("zone", "In", ["z2"])]]), nodes: nodes)) == "b")
        #expect(boundNode(scheduleOne(pod(["matchFields": [requirementJSON("metadata.name", "In", ["a"])]]), nodes: nodes)) == "a")
        let miss = scheduleOne(pod(["matchExpressions": [requirementJSON("zone", "In", ["z3"])]]), nodes: nodes)
        #expect(miss.failures.first?.reasons == ["node(s) didn't match Pod's node affinity/selector": 2])
    }

    @Test func taintsAndTolerations() {
        let nodes = [makeNode("a", taints: [Taint(key: "dedicated", value: "gpu", effect: "NoSchedule")]),
                     makeNode("b", taints: [Taint(key: "maint", effect: "NoExecute")])]
        let plain = scheduleOne(makePod("p"), nodes: nodes)
        #expect(plain.failures.first?.message
            == "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated taint {maint: }.")
        let tolerant = makePod("p").with { $0.tolerations = [Toleration(key: "dedicated", operator: "Equal", value: "gpu", effect: "NoSchedule")] }
        #expect(boundNode(scheduleOne(tolerant, nodes: nodes)) == "a")
        // PreferNoSchedule never filters.
        #expect(boundNode(scheduleOne(makePod("p"), nodes: [makeNode("c", taints: [Taint(key: "soft", effect: "PreferNoSchedule")])])) == "c")
    }

    @Test func notReadyAndUnreachableNodes() {
        let nodes = [makeNode("a", ready: "False"), makeNode("b", ready: "Unknown"), makeNode("c")]
        #expect(boundNode(scheduleOne(makePod("p"), nodes: nodes)) == "c")
        let fail = scheduleOne(makePod("p"), nodes: Array(nodes.prefix(2)))
        #expect(fail.failures.first?.message == "0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, "
            + "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.")
        let daemon = makePod("d").with { $0.tolerations = [Toleration(key: "node.kubernetes.io/not-ready", operator: "Exists")] }
        #expect(boundNode(scheduleOne(daemon, nodes: [nodes[0]])) == "a")
    }

    @Test func unschedulableNode() {
        let nodes = [makeNode("a", unschedulable: true)]
        #expect(scheduleOne(makePod("p"), nodes: nodes).failures.first?.message == "0/1 nodes are available: 1 node(s) were unschedulable.")
        let tolerant = makePod("p").with { $0.tolerations = [Toleration(key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule")] }
        #expect(boundNode(scheduleOne(tolerant, nodes: nodes)) == "a")
    }

    @Test func hostPortConflicts() {
        let nodes = [makeNode("a"), makeNode("b")]
        let existing = [makePod("web0", node: "a", hostPort: 8080)]
        #expect(boundNode(scheduleOne(makePod("web1", hostPort: 8080), nodes: nodes, existing: existing)) == "b")
        let both = existing + [makePod("web2", node: "b", hostPort: 8080)]
        #expect(scheduleOne(makePod("web1", hostPort: 8080), nodes: nodes, existing: both).failures.first?.reasons
            == ["node(s) didn't have free ports for the requested pod ports": 2])
        #expect(scheduleOne(makePod("web1", hostPort: 9090), nodes: nodes, existing: both).bindings.count == 1)
    }

    static func affinityPod(_ name: String, labels: [String: String], affinity: [String: String]? = nil, anti: [String: String]? = nil,
                            key: String = "zone") -> Pod {
        var json = JSONObject()
        if let affinity { json["podAffinity"] = ["requiredDuringSchedulingIgnoredDuringExecution": [podAffinityTermJSON(affinity, key: key)]] }
        if let anti { json["podAntiAffinity"] = ["requiredDuringSchedulingIgnoredDuringExecution": [podAffinityTermJSON(anti, key: key)]] }
        let aff: Affinity = decoded(.object(json))
        return makePod(name, labels: labels).with { $0.affinity = aff }
    }

    static let zonedNodes = [makeNode("a", labels: ["zone": "z1"]), makeNode("b", labels: ["zone": "z1"]), makeNode("c", labels: ["zone": "z2"])]

    @Test func requiredPodAffinity() {
        let db = makePod("db", labels: ["app": "db"], node: "c")
        let web = Self.affinityPod("web", labels: ["app": "web"], affinity: ["app": "db"])
        #expect(boundNode(scheduleOne(web, nodes: Self.zonedNodes, existing: [db])) == "c")
        let cache = scheduleOne(Self.affinityPod("web", labels: ["app": "web"], affinity: ["app": "cache"]), nodes: Self.zonedNodes, existing: [db])
        #expect(cache.failures.first?.reasons == ["node(s) didn't match pod affinity rules": 3])
        // The first pod of a self-affine group may go anywhere.
        #expect(scheduleOne(Self.affinityPod("g0", labels: ["app": "g"], affinity: ["app": "g"]), nodes: Self.zonedNodes).bindings.count == 1)
    }

    @Test func requiredPodAntiAffinity() {
        let first = makePod("web0", labels: ["app": "web"], node: "a")
        let pod = Self.affinityPod("web1", labels: ["app": "web"], anti: ["app": "web"])
        #expect(boundNode(scheduleOne(pod, nodes: Self.zonedNodes, existing: [first])) == "c")
        let fail = scheduleOne(pod, nodes: Self.zonedNodes, existing: [first, makePod("web2", labels: ["app": "web"], node: "c")])
        #expect(fail.failures.first?.reasons == ["node(s) didn't match pod anti-affinity rules": 3])
    }

    @Test func existingPodsAntiAffinityIsSymmetric() {
        let loner = Self.affinityPod("loner", labels: ["app": "loner"], anti: ["app": "noisy"])
        var bound = loner
        bound.spec?.nodeName = "a"
        let noisy = makePod("noisy", labels: ["app": "noisy"])
        #expect(boundNode(scheduleOne(noisy, nodes: Self.zonedNodes, existing: [bound])) == "c")
        let fail = scheduleOne(noisy, nodes: Array(Self.zonedNodes.prefix(2)), existing: [bound])
        #expect(fail.failures.first?.reasons == ["node(s) didn't satisfy existing pods anti-affinity rules": 2])
    }

    @Test func antiAffinityOnlyWithinNamespace() {
        let other = makePod("web0", namespace: "other", labels: ["app": "web"], node: "c")
        let pod = Self.affinityPod("web1", labels: ["app": "web"], anti: ["app": "web"])
        #expect(scheduleOne(pod, nodes: [Self.zonedNodes[2]], existing: [other]).bindings.count == 1)
    }

    static func spreadPod(_ name: String, hard: Bool, maxSkew: Int = 1) -> Pod {
        let c: TopologySpreadConstraint = decoded(["maxSkew": .int(Int64(maxSkew)), "topologyKey": "zone",
                                                   "whenUnsatisfiable": .string(hard ? "DoNotSchedule" : "ScheduleAnyway"),
                                                   "labelSelector": ["matchLabels": ["app": "s"]]])
        return makePod(name, labels: ["app": "s"]).with { $0.topologySpreadConstraints = [c] }
    }

    @Test func topologySpreadHard() {
        let existing = [makePod("s0", labels: ["app": "s"], node: "a")]
        // z1 has 1, z2 has 0: placing in z1 makes skew 2 > 1.
        for seed in 1...5 as ClosedRange<UInt64> {
            #expect(boundNode(scheduleOne(Self.spreadPod("s1", hard: true), nodes: Self.zonedNodes, existing: existing, seed: seed)) == "c")
        }
        let fail = scheduleOne(Self.spreadPod("s1", hard: true), nodes: Array(Self.zonedNodes.prefix(2)) + [makeNode("c", cpu: "10m", labels: ["zone": "z2"])],
                               existing: existing)
        #expect(fail.failures.first?.reasons == ["node(s) didn't match pod topology spread constraints": 2, "Insufficient cpu": 1])
        let unlabeled = scheduleOne(Self.spreadPod("s1", hard: true), nodes: [makeNode("x")])
        #expect(unlabeled.failures.first?.reasons == ["node(s) didn't match pod topology spread constraints (missing required label)": 1])
    }

    @Test func messageIsSortedLikeKubeScheduler() {
        let nodes = [makeNode("a", cpu: "100m"), makeNode("b", cpu: "100m"), makeNode("c", cpu: "100m"),
                     makeNode("d", labels: ["x": "y"]), makeNode("e", unschedulable: true)]
        let pod = makePod("p", cpu: "1").with { $0.nodeSelector = ["kubernetes.io/os": "linux"] }
        var n = nodes
        for i in 0..<3 { n[i].metadata?.labels?["kubernetes.io/os"] = "linux" }
        let out = scheduleOne(pod, nodes: n)
        #expect(out.failures.first?.message
            == "0/5 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were unschedulable, 3 Insufficient cpu.")
        #expect(scheduleOne(makePod("p"), nodes: []).failures.first?.message == "no nodes available to schedule pods")
    }
}
