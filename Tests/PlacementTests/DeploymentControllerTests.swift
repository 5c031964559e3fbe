import Placement
import ResourceModel
import Simulation
import Testing

/// Drives the Deployment and ReplicaSet controllers against the mini store, with a stand-in
/// scheduler and node agent, one reconcile round at a time.
struct DeploymentHarness {
    var store = MiniStore()
    var rng = SeededRandom(seed: 11)
    var readyPods = true

    mutating func round() {
        for d in store.list("Deployment") {
            store.apply(DeploymentController.reconcile(d, replicaSets: store.list("ReplicaSet"), pods: store.pods, now: store.now))
        }
        for rs in store.list("ReplicaSet") {
            store.apply(ReplicaSetController.reconcile(rs, pods: store.pods, now: store.now, using: &rng))
        }
        // Background GC stands in for the garbage collector (pods of deleted ReplicaSets).
        store.apply(GarbageCollector.collect(["Deployment", "ReplicaSet", "Pod"].flatMap { kind in
            store.list(kind).map { GarbageCollector.Item(kind: kind, json: $0) }
        }))
        store.bindAll(nodes: ["n1", "n2"])
        store.runPods(ready: readyPods)
        store.now += 1
    }

    var deployment: JSONValue? { store.get("Deployment", "default", "web") }
    var replicaSets: [ReplicaSet] { store.list("ReplicaSet").compactMap { try? $0.decode(ReplicaSet.self) } }
    func revision(_ rs: ReplicaSet) -> String? { rs.metadata?.annotations?[DeploymentController.revisionAnnotation] }
    var activePods: [ObservedPod] { store.pods.filter(\.isActive) }
    func condition(_ type: String) -> JSONValue? {
        deployment?["status"]?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }

    mutating func settle(maxRounds: Int = 40) {
        for _ in 0..<maxRounds { round() }
    }
}

@Suite struct DeploymentControllerTests {
    @Test func createsReplicaSetWithRevisionAndOwner() throws {
        var h = DeploymentHarness()
        h.store.create("Deployment", deploymentJSON("web", replicas: 3))
        let d = try #require(h.deployment)
        let actions = DeploymentController.reconcile(d, replicaSets: [], pods: [], now: h.store.now)
        let rs = try #require(actions.creates.first)
        let hash = PodTemplates.hash(d["spec"]?["template"] ?? .null)
        #expect(rs["metadata"]?["name"]?.stringValue == "web-\(hash)")
        #expect(rs["metadata"]?["labels"]?["pod-template-hash"]?.stringValue == hash)
        #expect(rs["spec"]?["selector"]?["matchLabels"]?["pod-template-hash"]?.stringValue == hash)
        #expect(rs["spec"]?["template"]?["metadata"]?["labels"]?["pod-template-hash"]?.stringValue == hash)
        #expect(rs["metadata"]?["annotations"]?[DeploymentController.revisionAnnotation] == "1")
        #expect(rs["spec"]?["replicas"] == 3)
        #expect(rs["metadata"]?["ownerReferences"]?.arrayValue?.first?["kind"] == "Deployment")
        #expect(actions.events.map(\.message) == ["Scaled up replica set web-\(hash) to 3"])
        #expect(actions.events.first?.reason == "ScalingReplicaSet")

        h.settle(maxRounds: 6)
        #expect(h.activePods.count == 3)
        #expect(h.deployment?["metadata"]?["annotations"]?[DeploymentController.revisionAnnotation] == "1")
        let status = h.deployment?["status"]
        #expect(status?["replicas"] == 3 && status?["updatedReplicas"] == 3 && status?["readyReplicas"] == 3 && status?["availableReplicas"] == 3)
        #expect(status?["observedGeneration"] == 1)
        #expect(h.condition("Available")?["reason"] == "MinimumReplicasAvailable")
        #expect(h.condition("Available")?["status"] == "True")
        #expect(h.condition("Progressing")?["reason"] == "NewReplicaSetAvailable")
        #expect(h.condition("Progressing")?["message"]?.stringValue == "ReplicaSet \"web-\(hash)\" has successfully progressed.")
    }

    @Test func rollingUpdateRespectsSurgeAndUnavailability() throws {
        for (surge, unavailable) in [(1, 0), (0, 1), (2, 1)] {
            var h = DeploymentHarness()
            let desired = 4
            h.store.create("Deployment", deploymentJSON("web", replicas: desired, maxSurge: .int(Int64(surge)), maxUnavailable: .int(Int64(unavailable))))
            h.settle(maxRounds: 8)
            #expect(h.activePods.count == desired)
            h.store.edit("Deployment", "default", "web") { d in
                var containers = d["spec"]?["template"]?["spec"]?["containers"]?.arrayValue ?? []
                containers[0]["image"] = "nginx:2"
                d.set(.array(containers), at: ["spec", "template", "spec", "containers"])
            }
            var sawOld = false
            for _ in 0..<60 {
                h.round()
                let pods = h.activePods
                // Never more than desired + maxSurge pods, never fewer than desired - maxUnavailable ready.
                try #require(pods.count <= desired + surge, "surge exceeded: \(pods.count)")
                try #require(pods.filter { $0.view.isReady }.count >= desired - unavailable, "availability dropped")
                if pods.contains(where: { $0.view.spec?.containers.first?.image == "nginx:1" }) { sawOld = true }
            }
            #expect(sawOld)
            let images = h.activePods.map { $0.view.spec?.containers.first?.image ?? "" }
            #expect(images == Array(repeating: "nginx:2", count: desired))
            let byRevision = Dictionary(uniqueKeysWithValues: h.replicaSets.map { (h.revision($0) ?? "", Int($0.spec?.replicas ?? -1)) })
            #expect(byRevision == ["1": 0, "2": desired])
            #expect(h.deployment?["metadata"]?["annotations"]?[DeploymentController.revisionAnnotation] == "2")
            #expect(h.condition("Progressing")?["reason"] == "NewReplicaSetAvailable")
            #expect(h.deployment?["status"]?["observedGeneration"] == 2)
        }
    }

    @Test func rollbackReusesTheOldReplicaSetAndBumpsItsRevision() throws {
        var h = DeploymentHarness()
        h.store.create("Deployment", deploymentJSON("web", replicas: 2))
        h.settle(maxRounds: 6)
        let v1Template = try #require(h.deployment?["spec"]?["template"])
        let v1Name = try #require(h.replicaSets.first?.metadata?.name)
        h.store.edit("Deployment", "default", "web") { d in
            d.set([["name": "app", "image": "nginx:2"]], at: ["spec", "template", "spec", "containers"])
        }
        h.settle(maxRounds: 20)
        #expect(h.replicaSets.count == 2)
        // `kubectl rollout undo` patches the old template back, with creationTimestamp: null and resources: {}.
        var undo = v1Template
        undo.set(.null, at: ["metadata", "creationTimestamp"])
        undo.set([["name": "app", "image": "nginx:1", "resources": [:]]], at: ["spec", "containers"])
        h.store.edit("Deployment", "default", "web") { $0.set(undo, at: ["spec", "template"]) }
        h.settle(maxRounds: 20)
        #expect(h.replicaSets.count == 2)
        let reused = try #require(h.replicaSets.first { $0.metadata?.name == v1Name })
        #expect(h.revision(reused) == "3")
        #expect(reused.spec?.replicas == 2)
        #expect(h.deployment?["metadata"]?["annotations"]?[DeploymentController.revisionAnnotation] == "3")
        #expect(h.activePods.allSatisfy { $0.view.spec?.containers.first?.image == "nginx:1" })
    }

    @Test func revisionHistoryLimitDeletesOldestReplicaSets() {
        var h = DeploymentHarness()
        h.store.create("Deployment", deploymentJSON("web", replicas: 1, historyLimit: 1))
        h.settle(maxRounds: 5)
        for v in 2...4 {
            h.store.edit("Deployment", "default", "web") { d in
                d.set([["name": "app", "image": .string("nginx:\(v)")]], at: ["spec", "template", "spec", "containers"])
            }
            h.settle(maxRounds: 12)
        }
        let revisions = h.replicaSets.compactMap { h.revision($0) }.sorted()
        #expect(revisions == ["3", "4"])
    }

    @Test func recreateScalesOldToZeroBeforeNew() {
        var h = DeploymentHarness()
        h.store.create("Deployment", deploymentJSON("web", replicas: 3, strategy: "Recreate"))
        h.settle(maxRounds: 6)
        h.store.edit("Deployment", "default", "web") { d in
            d.set([["name": "app", "image": "nginx:2"]], at: ["spec", "template", "spec", "containers"])
        }
        for _ in 0..<20 {
            h.round()
            let images = Set(h.activePods.map { $0.view.spec?.containers.first?.image ?? "" })
            #expect(images.count <= 1, "old and new pods ran together: \(images)")
        }
        #expect(h.activePods.count == 3)
        #expect(h.activePods.allSatisfy { $0.view.spec?.containers.first?.image == "nginx:2" })
    }

    @Test func progressDeadlineExceededWhenPodsNeverBecomeReady() {
        var h = DeploymentHarness()
        h.readyPods = false
        h.store.create("Deployment", deploymentJSON("web", replicas: 2, progressDeadline: 10))
        h.settle(maxRounds: 4)
        #expect(h.condition("Progressing")?["status"] == "True")
        #expect(h.condition("Available")?["reason"] == "MinimumReplicasUnavailable")
        h.settle(maxRounds: 15)
        #expect(h.condition("Progressing")?["status"] == "False")
        #expect(h.condition("Progressing")?["reason"] == "ProgressDeadlineExceeded")
    }

    @Test func pausedDeploymentDoesNotRollOut() {
        var h = DeploymentHarness()
        h.store.create("Deployment", deploymentJSON("web", replicas: 2))
        h.settle(maxRounds: 5)
        h.store.edit("Deployment", "default", "web") { d in
            d.set(true, at: ["spec", "paused"])
            d.set([["name": "app", "image": "nginx:2"]], at: ["spec", "template", "spec", "containers"])
        }
        h.settle(maxRounds: 5)
        #expect(h.replicaSets.count == 1)
        #expect(h.condition("Progressing")?["reason"] == "DeploymentPaused")
        h.store.edit("Deployment", "default", "web") { $0.set(false, at: ["spec", "paused"]) }
        h.settle(maxRounds: 20)
        #expect(h.replicaSets.count == 2)
        #expect(h.activePods.allSatisfy { $0.view.spec?.containers.first?.image == "nginx:2" })
    }

    @Test func scalingChangesTheNewReplicaSet() {
        var h = DeploymentHarness()
        h.store.create("Deployment", deploymentJSON("web", replicas: 2))
        h.settle(maxRounds: 5)
        h.store.edit("Deployment", "default", "web") { $0.set(5, at: ["spec", "replicas"]) }
        h.settle(maxRounds: 5)
        #expect(h.activePods.count == 5)
        #expect(h.store.events.contains { $0.message.hasPrefix("Scaled up replica set web-") && $0.message.hasSuffix(" to 5") })
        h.store.edit("Deployment", "default", "web") { $0.set(1, at: ["spec", "replicas"]) }
        h.settle(maxRounds: 5)
        #expect(h.activePods.count == 1)
    }
}
