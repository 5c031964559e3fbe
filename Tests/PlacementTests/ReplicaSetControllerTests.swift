import Placement
import ResourceModel
import Simulation
import Testing

@Suite struct ReplicaSetControllerTests {
    func step(_ store: inout MiniStore, _ name: String, rng: inout SeededRandom) -> [ControllerAction] {
        guard let rs = store.get("ReplicaSet", "default", name) else { return [] }
        let actions = ReplicaSetController.reconcile(rs, pods: store.pods, now: store.now, using: &rng)
        store.apply(actions)
        return actions
    }

    @Test func scalesUpWithOwnedLabelledPodsAndEvents() throws {
        var store = MiniStore()
        var rng = SeededRandom(seed: 1)
        store.create("ReplicaSet", replicaSetJSON("web-abc", replicas: 3, labels: ["app": "web", "pod-template-hash": "abc"]))
        let actions = step(&store, "web-abc", rng: &rng)
        #expect(actions.creates.count == 3)
        let pod = try #require(actions.creates.first)
        let podName = try #require(pod["metadata"]?["name"]?.stringValue)
        #expect(podName.hasPrefix("web-abc-") && podName.count == "web-abc-".count + 5)
        #expect(pod["metadata"]?["generateName"]?.stringValue == "web-abc-")
        #expect(pod["metadata"]?["labels"]?["pod-template-hash"]?.stringValue == "abc")
        let owner = try #require(pod["metadata"]?["ownerReferences"]?.arrayValue?.first)
        #expect(owner["kind"] == "ReplicaSet" && owner["controller"] == true && owner["name"] == "web-abc")
        #expect(actions.events.first?.reason == "SuccessfulCreate")
        #expect(actions.events.first?.message == "Created pod: \(podName)")
        #expect(store.pods.count == 3)
        // Steady state: nothing more to create.
        #expect(step(&store, "web-abc", rng: &rng).creates.isEmpty)
    }

    @Test func statusCountsReadyAndAvailable() {
        var store = MiniStore()
        var rng = SeededRandom(seed: 2)
        var rs = replicaSetJSON("api-x", replicas: 2, labels: ["app": "api"])
        rs.set(.int(10), at: ["spec", "minReadySeconds"])
        store.create("ReplicaSet", rs)
        _ = step(&store, "api-x", rng: &rng)
        store.bindAll(nodes: ["n1"])
        store.runPods()
        _ = step(&store, "api-x", rng: &rng)
        var status = store.get("ReplicaSet", "default", "api-x")?["status"]
        #expect(status?["replicas"] == 2 && status?["readyReplicas"] == 2 && status?["availableReplicas"] == 0 && status?["fullyLabeledReplicas"] == 2)
        #expect(status?["observedGeneration"] == 1)
        store.now += 10
        _ = step(&store, "api-x", rng: &rng)
        status = store.get("ReplicaSet", "default", "api-x")?["status"]
        #expect(status?["availableReplicas"] == 2)
    }

    @Test func scaleDownPrefersUnscheduledThenNotReadyThenNewer() {
        var store = MiniStore()
        var rng = SeededRandom(seed: 3)
        store.create("ReplicaSet", replicaSetJSON("w-1", replicas: 4, labels: ["app": "w"]))
        _ = step(&store, "w-1", rng: &rng)
        let names = store.pods.map(\.name)
        // Pod 0: ready old; pod 1: running not ready; pod 2: unscheduled; pod 3: ready, newer.
        store.bindAll(nodes: ["n1"])
        var p2 = store.pods.first { $0.name == names[2] }!.json
        p2.set(JSONValue?.none, at: ["spec", "nodeName"])
        store.apply(.update(kind: "Pod", object: p2))
        store.runPods(only: { $0.name == names[0] })
        store.runPods(ready: false, only: { $0.name == names[1] })
        store.now += 100
        store.runPods(only: { $0.name == names[3] })
        store.edit("ReplicaSet", "default", "w-1") { $0.set(.int(2), at: ["spec", "replicas"]) }
        let first = step(&store, "w-1", rng: &rng)
        #expect(first.deletes == [names[2], names[1]])
        #expect(first.events.map(\.message) == ["Deleted pod: \(names[2])", "Deleted pod: \(names[1])"])
        store.edit("ReplicaSet", "default", "w-1") { $0.set(.int(1), at: ["spec", "replicas"]) }
        #expect(step(&store, "w-1", rng: &rng).deletes == [names[3]])
    }

    @Test func adoptsMatchingOrphansAndReleasesNonMatching() throws {
        var store = MiniStore()
        var rng = SeededRandom(seed: 4)
        store.create("ReplicaSet", replicaSetJSON("db-1", replicas: 2, labels: ["app": "db"]))
        store.create("Pod", ["metadata": ["name": "orphan", "labels": ["app": "db"]], "spec": ["containers": [["name": "c"]]]])
        store.create("Pod", ["metadata": ["name": "stranger", "labels": ["app": "other"]], "spec": ["containers": [["name": "c"]]]])
        let actions = step(&store, "db-1", rng: &rng)
        #expect(actions.creates.count == 1)
        let adopted = try #require(store.get("Pod", "default", "orphan"))
        #expect(adopted["metadata"]?["ownerReferences"]?.arrayValue?.first?["name"] == "db-1")
        #expect(store.get("Pod", "default", "stranger")?["metadata"]?["ownerReferences"] == nil)
        // Relabel an owned pod: it is released and replaced.
        store.edit("Pod", "default", "orphan") { $0.set(["app": "gone"], at: ["metadata", "labels"]) }
        let next = step(&store, "db-1", rng: &rng)
        #expect(next.creates.count == 1)
        #expect(store.get("Pod", "default", "orphan")?["metadata"]?["ownerReferences"] == nil)
    }

    @Test func terminalAndDeletingPodsDoNotCount() {
        var store = MiniStore()
        var rng = SeededRandom(seed: 5)
        store.create("ReplicaSet", replicaSetJSON("t-1", replicas: 1, labels: ["app": "t"]))
        _ = step(&store, "t-1", rng: &rng)
        store.bindAll(nodes: ["n"])
        store.setPhase(store.pods[0], "Failed", ready: false)
        #expect(step(&store, "t-1", rng: &rng).creates.count == 1)
    }

    @Test func garbageInputIsIgnored() {
        var rng = SeededRandom(seed: 6)
        #expect(ReplicaSetController.reconcile(.string("nope"), pods: [], now: 0, using: &rng).isEmpty)
        #expect(ReplicaSetController.reconcile(["spec": ["replicas": "three"]], pods: [], now: 0, using: &rng).isEmpty)
    }
}
