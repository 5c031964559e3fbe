import Placement
import ResourceModel
import Simulation
import Testing

func jobJSON(_ name: String, completions: Int?, parallelism: Int, backoffLimit: Int = 6) -> JSONValue {
    var spec: JSONObject = [
        "parallelism": .int(Int64(parallelism)), "backoffLimit": .int(Int64(backoffLimit)),
        "template": ["metadata": ["labels": ["job-name": .string(name)]],
                     "spec": ["restartPolicy": "Never", "containers": [["name": "work", "image": "busybox"]]]],
    ]
    if let completions { spec["completions"] = .int(Int64(completions)) }
    return ["apiVersion": "batch/v1", "kind": "Job", "metadata": ["name": .string(name), "namespace": "default"], "spec": .object(spec)]
}

func daemonSetJSON(_ name: String, image: String = "agent:1", tolerations: JSONValue? = nil, nodeSelector: [String: String]? = nil) -> JSONValue {
    var podSpec: JSONObject = ["containers": [["name": "agent", "image": .string(image)]]]
    if let tolerations { podSpec["tolerations"] = tolerations }
    if let nodeSelector { podSpec["nodeSelector"] = selectorJSON(nodeSelector) }
    return ["apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": ["name": .string(name), "namespace": "kube-system"],
            "spec": ["selector": ["matchLabels": ["app": .string(name)]],
                     "template": ["metadata": ["labels": ["app": .string(name)]], "spec": .object(podSpec)]]]
}

@Suite struct JobControllerTests {
    mutating func step(_ store: inout MiniStore, rng: inout SeededRandom) -> [ControllerAction] {
        guard let job = store.list("Job").first else { return [] }
        let actions = JobController.reconcile(job, pods: store.pods, now: store.now, using: &rng)
        store.apply(actions)
        store.bindAll(nodes: ["n1"])
        store.runPods()
        store.now += 1
        return actions
    }

    var job: (MiniStore) -> JSONValue? = { $0.list("Job").first }

    @Test mutating func runsToCompletionWithParallelism() throws {
        var store = MiniStore()
        var rng = SeededRandom(seed: 21)
        store.create("Job", jobJSON("pi", completions: 3, parallelism: 2))
        let first = step(&store, rng: &rng)
        #expect(first.creates.count == 2)
        #expect(first.creates.first?["metadata"]?["ownerReferences"]?.arrayValue?.first?["kind"] == "Job")
        #expect(store.list("Job").first?["status"]?["startTime"] != nil)
        #expect(store.list("Job").first?["status"]?["active"] == 2)
        for _ in 0..<6 {
            for pod in store.pods where pod.view.status?.phase == "Running" { store.setPhase(pod, "Succeeded", ready: false) }
            _ = step(&store, rng: &rng)
        }
        let status = try #require(store.list("Job").first?["status"])
        #expect(status["succeeded"] == 3)
        #expect(status["active"] == nil)
        #expect(status["completionTime"] != nil)
        #expect(status["conditions"]?.arrayValue?.first?["type"] == "Complete")
        #expect(store.pods.count == 3)
        #expect(store.events.contains { $0.reason == "Completed" && $0.message == "Job completed" })
    }

    @Test mutating func failsAfterBackoffLimit() throws {
        var store = MiniStore()
        var rng = SeededRandom(seed: 22)
        store.create("Job", jobJSON("flaky", completions: 1, parallelism: 1, backoffLimit: 1))
        for _ in 0..<4 {
            _ = step(&store, rng: &rng)
            for pod in store.pods where pod.view.status?.phase == "Running" { store.setPhase(pod, "Failed", ready: false) }
        }
        _ = step(&store, rng: &rng)
        let status = try #require(store.list("Job").first?["status"])
        #expect(status["failed"] == 2)
        let failed = status["conditions"]?.arrayValue?.first { $0["type"] == "Failed" }
        #expect(failed?["status"] == "True")
        #expect(failed?["reason"] == "BackoffLimitExceeded")
        #expect(failed?["message"] == "Job has reached the specified backoff limit")
        #expect(store.pods.filter(\.isActive).isEmpty)
        // A failed Job creates nothing more.
        #expect(step(&store, rng: &rng).creates.isEmpty)
    }

    @Test mutating func workQueueJobCompletesWhenOneSucceedsAndOthersFinish() {
        var store = MiniStore()
        var rng = SeededRandom(seed: 23)
        store.create("Job", jobJSON("queue", completions: nil, parallelism: 2))
        _ = step(&store, rng: &rng)
        #expect(store.pods.count == 2)
        for pod in store.pods { store.setPhase(pod, "Succeeded", ready: false) }
        _ = step(&store, rng: &rng)
        #expect(store.list("Job").first?["status"]?["conditions"]?.arrayValue?.first?["type"] == "Complete")
    }
}

@Suite struct DaemonSetControllerTests {
    func step(_ store: inout MiniStore, rng: inout SeededRandom) -> [ControllerAction] {
        guard let ds = store.list("DaemonSet").first else { return [] }
        let actions = DaemonSetController.reconcile(ds, nodes: store.nodes, pods: store.pods, now: store.now, using: &rng)
        store.apply(actions)
        store.runPods()
        store.now += 1
        return actions
    }

    @Test func onePodPerEligibleNodeCreatedBound() throws {
        var store = MiniStore()
        var rng = SeededRandom(seed: 31)
        store.create("Node", nodeJSON("a"))
        store.create("Node", nodeJSON("b", ready: "False"))
        store.create("Node", nodeJSON("c", taints: [Taint(key: "dedicated", value: "db", effect: "NoSchedule")]))
        store.create("DaemonSet", daemonSetJSON("agent"))
        let actions = step(&store, rng: &rng)
        let created = actions.creates
        #expect(Set(created.compactMap { $0["spec"]?["nodeName"]?.stringValue }) == ["a", "b"])
        let pod = try #require(created.first)
        #expect(pod["spec"]?["affinity"]?["nodeAffinity"]?["requiredDuringSchedulingIgnoredDuringExecution"]?["nodeSelectorTerms"]?
            .arrayValue?.first?["matchFields"]?.arrayValue?.first?["key"] == "metadata.name")
        #expect(pod["spec"]?["tolerations"]?.arrayValue?.contains { $0["key"]?.stringValue == NodeLifecycle.unreachableTaintKey } == true)
        _ = step(&store, rng: &rng)
        let status = store.list("DaemonSet").first?["status"]
        #expect(status?["desiredNumberScheduled"] == 2 && status?["currentNumberScheduled"] == 2 && status?["numberReady"] == 2)
        #expect(status?["updatedNumberScheduled"] == 2 && status?["numberMisscheduled"] == 0)
        // A new node gets its pod; a node that stops matching loses it.
        store.create("Node", nodeJSON("d"))
        #expect(step(&store, rng: &rng).creates.compactMap { $0["spec"]?["nodeName"]?.stringValue } == ["d"])
        store.edit("Node", nil, "d") { $0.set([["key": "x", "effect": "NoExecute"]], at: ["spec", "taints"]) }
        #expect(step(&store, rng: &rng).deletes.count == 1)
    }

    @Test func nodeSelectorLimitsNodes() {
        var store = MiniStore()
        var rng = SeededRandom(seed: 32)
        store.create("Node", nodeJSON("a", labels: ["gpu": "yes"]))
        store.create("Node", nodeJSON("b"))
        store.create("DaemonSet", daemonSetJSON("gpu", nodeSelector: ["gpu": "yes"]))
        #expect(step(&store, rng: &rng).creates.compactMap { $0["spec"]?["nodeName"]?.stringValue } == ["a"])
    }

    @Test func rollingUpdateReplacesAtMostMaxUnavailable() {
        var store = MiniStore()
        var rng = SeededRandom(seed: 33)
        for n in ["a", "b", "c", "d"] { store.create("Node", nodeJSON(n)) }
        store.create("DaemonSet", daemonSetJSON("agent"))
        for _ in 0..<3 { _ = step(&store, rng: &rng) }
        store.edit("DaemonSet", "kube-system", "agent") { d in
            d.set([["name": "agent", "image": "agent:2"]], at: ["spec", "template", "spec", "containers"])
        }
        for _ in 0..<20 {
            let actions = step(&store, rng: &rng)
            #expect(actions.deletes.count <= 1)
            #expect(store.pods.filter(\.isActive).count >= 3)
        }
        #expect(store.pods.filter(\.isActive).map { $0.view.spec?.containers.first?.image ?? "" } == Array(repeating: "agent:2", count: 4))
    }
}

@Suite struct GarbageCollectorTests {
    func items(_ store: MiniStore) -> [GarbageCollector.Item] {
        ["Deployment", "ReplicaSet", "Pod"].flatMap { kind in store.list(kind).map { GarbageCollector.Item(kind: kind, json: $0) } }
    }

    @Test func cascadesInBackgroundWhenOwnerIsGone() {
        var h = DeploymentHarness()
        h.store.create("Deployment", deploymentJSON("web", replicas: 2))
        h.settle(maxRounds: 5)
        h.store.create("Pod", ["metadata": ["name": "bystander"], "spec": ["containers": [["name": "c"]]]])
        h.store.apply(.delete(kind: "Deployment", namespace: "default", name: "web", uid: nil))
        let first = GarbageCollector.collect(items(h.store))
        #expect(first.deletes.count == 1)  // the ReplicaSet; its pods still have an owner
        h.store.apply(first)
        h.store.apply(GarbageCollector.collect(items(h.store)))
        #expect(h.store.list("ReplicaSet").isEmpty)
        #expect(h.store.pods.map(\.name) == ["bystander"])
    }

    @Test func orphanPolicyReleasesDependents() {
        var h = DeploymentHarness()
        h.store.create("Deployment", deploymentJSON("web", replicas: 1))
        h.settle(maxRounds: 5)
        h.store.edit("Deployment", "default", "web") { d in
            d.set(.string(Timestamp.format(epochSeconds: 1)), at: ["metadata", "deletionTimestamp"])
            d.set([.string(GarbageCollector.orphanFinalizer)], at: ["metadata", "finalizers"])
        }
        h.store.apply(GarbageCollector.collect(items(h.store)))
        #expect(h.store.list("ReplicaSet").first?["metadata"]?["ownerReferences"] == nil)
        h.store.apply(GarbageCollector.collect(items(h.store)))
        #expect(h.deployment?["metadata"]?["finalizers"] == nil)
        #expect(h.store.list("ReplicaSet").count == 1 && h.store.pods.count == 1)
    }

    @Test func foregroundDeletesDependentsFirst() {
        var h = DeploymentHarness()
        h.store.create("Deployment", deploymentJSON("web", replicas: 1))
        h.settle(maxRounds: 5)
        h.store.edit("Deployment", "default", "web") { d in
            d.set(.string(Timestamp.format(epochSeconds: 1)), at: ["metadata", "deletionTimestamp"])
            d.set([.string(GarbageCollector.foregroundFinalizer)], at: ["metadata", "finalizers"])
        }
        for _ in 0..<3 { h.store.apply(GarbageCollector.collect(items(h.store))) }
        #expect(h.store.list("ReplicaSet").isEmpty && h.store.pods.isEmpty)
        #expect(h.deployment?["metadata"]?["finalizers"] == nil)
    }
}

@Suite struct NodeLifecycleTests {
    func step(_ store: inout MiniStore, _ health: NodeLifecycle.Health?) -> [ControllerAction] {
        guard let node = store.get("Node", nil, "n1") else { return [] }
        let actions = NodeLifecycle.reconcile(node, health: health, pods: store.pods, now: store.now)
        store.apply(actions)
        return actions
    }

    @Test func suspectNodeBecomesUnknownTaintedThenEvicted() throws {
        var store = MiniStore()
        store.create("Node", nodeJSON("n1"))
        store.create("Pod", ["metadata": ["name": "web"], "spec": ["nodeName": "n1", "containers": [["name": "c"]]]])
        store.create("Pod", ["metadata": ["name": "daemon"], "spec": ["nodeName": "n1", "containers": [["name": "c"]],
                                                                    "tolerations": [["key": .string(NodeLifecycle.unreachableTaintKey), "operator": "Exists"]]]])
        #expect(step(&store, .alive).isEmpty)
        let first = step(&store, .suspect)
        #expect(first.events.map(\.message) == ["Node n1 status is now: NodeNotReady"])
        let ready = try #require(store.nodes.first?.status?.conditions?.first(ofType: "Ready"))
        #expect(ready.status == "Unknown" && ready.reason == "NodeStatusUnknown")
        _ = step(&store, .suspect)
        let taints = store.nodes.first?.spec?.taints ?? []
        #expect(Set(taints.map { "\($0.key):\($0.effect)" }) == ["\(NodeLifecycle.unreachableTaintKey):NoSchedule", "\(NodeLifecycle.unreachableTaintKey):NoExecute"])
        store.now += 39
        #expect(step(&store, .dead).deletes.isEmpty)
        store.now += 1
        let evict = step(&store, .dead)
        #expect(evict.deletes == ["web"])
        #expect(evict.events.first?.reason == "TaintManagerEviction")
        #expect(store.pods.map(\.name) == ["daemon"])
        // Recovery: Ready again, taints removed.
        _ = step(&store, .alive)
        _ = step(&store, .alive)
        #expect(store.nodes.first?.isReady == true)
        #expect(store.nodes.first?.spec?.taints == nil)
    }

    @Test func agentReportedNotReadyIsKeptAndTaintedNotReady() {
        var store = MiniStore()
        store.create("Node", nodeJSON("n1", ready: "False"))
        #expect(step(&store, .alive).updates.count == 1)
        #expect(store.nodes.first?.spec?.taints?.contains { $0.key == NodeLifecycle.notReadyTaintKey && $0.effect == "NoExecute" } == true)
    }
}
