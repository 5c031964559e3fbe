import Placement
import ResourceModel
import Simulation
import Testing

/// A seeded cluster model: the store is the Raft-replicated state (every write compare-and-swap), and
/// whichever peer leads runs the controllers and the scheduler from its own in-memory cache. Leadership
/// moves at random, sometimes in the middle of a step (only a prefix of its writes lands); the new
/// leader rebuilds its cache from the store. A node dies mid-run.
struct PlacementClusterModel {
    var store = MiniStore()
    var leader = 0
    var cache: SchedulingCache?
    var scheduler = Scheduler(configuration: SchedulerConfiguration(policy: .mostAllocated))
    /// What the cache has seen, per pod: the resourceVersion (the model's watch).
    var seen: [PodKey: String] = [:]
    var seenNodes: [String: String] = [:]
    var dead: Set<String> = []
    var bindings: [String: String] = [:]  // pod uid → node, every binding that ever landed
    var violations: [String] = []
    let nodeNames = ["n0", "n1", "n2", "n3"]

    init() {
        for n in nodeNames { store.create("Node", nodeJSON(n)) }
        var web = deploymentJSON("web", replicas: 6, maxSurge: 1, maxUnavailable: 1)
        web.set([["name": "app", "image": "nginx:1", "resources": ["requests": ["cpu": "100m", "memory": "64Mi"]]]],
                at: ["spec", "template", "spec", "containers"])
        store.create("Deployment", web)
        var burst = deploymentJSON("burst", replicas: 30)
        burst.set([["name": "app", "image": "busybox", "resources": ["requests": ["cpu": "50m", "memory": "32Mi"]]]],
                  at: ["spec", "template", "spec", "containers"])
        store.create("Deployment", burst)
    }

    /// The leader's watch: bring the cache up to date with the store (or build it afresh).
    mutating func syncCache() {
        if cache == nil {
            cache = SchedulingCache(nodes: store.nodes, pods: store.pods.map(\.view))
            seen = Dictionary(uniqueKeysWithValues: store.pods.map { (PodKey($0.view), $0.meta.resourceVersion ?? "") })
            seenNodes = Dictionary(uniqueKeysWithValues: store.nodes.map { ($0.metadata?.name ?? "", $0.metadata?.resourceVersion ?? "") })
            return
        }
        for node in store.nodes where seenNodes[node.metadata?.name ?? ""] != node.metadata?.resourceVersion {
            cache?.upsertNode(node)
            seenNodes[node.metadata?.name ?? ""] = node.metadata?.resourceVersion
        }
        var present: Set<PodKey> = []
        for pod in store.pods {
            let key = PodKey(pod.view)
            present.insert(key)
            if seen[key] != pod.meta.resourceVersion {
                cache?.addPod(pod.view)
                seen[key] = pod.meta.resourceVersion
            }
        }
        for key in seen.keys where !present.contains(key) {
            cache?.removePod(key)
            seen[key] = nil
        }
    }

    /// Applies writes, checking that no pod is ever bound twice.
    mutating func write(_ actions: [ControllerAction]) {
        for action in actions {
            if case .update("Pod", let object) = action, let name = object["metadata"]?["name"]?.stringValue,
               let current = store.get("Pod", object["metadata"]?["namespace"]?.stringValue, name) {
                let before = current["spec"]?["nodeName"]?.stringValue
                let after = object["spec"]?["nodeName"]?.stringValue
                let uid = current["metadata"]?["uid"]?.stringValue ?? ""
                if store.apply(action), before != after {
                    if before != nil || bindings[uid] != nil { violations.append("pod \(name) bound twice: \(before ?? "-") → \(after ?? "-")") }
                    if let after { bindings[uid] = after }
                }
                continue
            }
            store.apply(action)
        }
    }

    /// One leader step. `cut` < 1 keeps only that fraction of its writes (leadership lost mid-step).
    mutating func leaderStep(rng: inout SeededRandom, cut: Double) {
        syncCache()
        let now = store.now
        // The leader's view for this step; its writes are compare-and-swap against the store.
        let pods = store.pods
        let replicaSets = store.list("ReplicaSet")
        var actions: [ControllerAction] = []
        for node in store.list("Node") {
            let name = node["metadata"]?["name"]?.stringValue ?? ""
            actions += NodeLifecycle.reconcile(node, health: dead.contains(name) ? .dead : .alive, pods: pods, now: now)
        }
        for d in store.list("Deployment") {
            actions += DeploymentController.reconcile(d, replicaSets: replicaSets, pods: pods, now: now)
        }
        for rs in replicaSets {
            actions += ReplicaSetController.reconcile(rs, pods: pods, now: now, using: &rng)
        }
        actions += GarbageCollector.collect(["Deployment", "ReplicaSet", "Pod"].flatMap { kind in
            store.list(kind).map { GarbageCollector.Item(kind: kind, json: $0) }
        })
        // Scheduling: pending pods as the store has them, decisions from the cache.
        let pending = pods.filter { $0.isActive && ($0.view.spec?.nodeName ?? "").isEmpty }
        if cache != nil {
            // In place: copying the cache out would copy all of it on the first write.
            let outcome = scheduler.schedule(pending.map(\.view), cache: &cache!, using: &rng)
            for b in outcome.bindings {
                if let stored = pending.first(where: { $0.name == b.pod.name }), let bound = b.boundPod(stored.json) {
                    actions.append(.update(kind: "Pod", object: bound))
                }
            }
        }
        let kept = cut >= 1 ? actions.count : Int(Double(actions.count) * cut)
        write(Array(actions.prefix(kept)))
        if kept < actions.count {
            // The assumed bindings that never landed are forgotten with the cache.
            cache = nil
        }
    }

    /// Node agents: pods bound to live nodes start and become ready.
    mutating func agentsStep() {
        for pod in store.pods where pod.isActive && pod.view.status?.phase == nil {
            guard let node = pod.view.spec?.nodeName, !dead.contains(node) else { continue }
            store.setPhase(pod, "Running", ready: true)
        }
    }

    func activePods(_ deployment: String) -> [ObservedPod] {
        store.pods.filter { $0.isActive && $0.name.hasPrefix(deployment + "-") }
    }
}

@Suite struct PlacementSimulationTests {
    @Test func leaderChangesDuringRolloutBurstAndNodeDeath() throws {
        try forEachSeed(defaultCount: 3) { seed in
            let sim = Simulation<Int>(seed: seed, nodes: 3)
            var model = PlacementClusterModel()
            var rng = SeededRandom(seed: seed &+ 1000)
            sim.setTimer(0, tag: 0, after: .seconds(1))
            sim.scheduleControl(tag: 1, at: .seconds(20))  // rollout
            sim.scheduleControl(tag: 2, at: .seconds(25))  // scheduling burst
            sim.scheduleControl(tag: 3, at: .seconds(40))  // node n3 dies
            while let event = sim.step(until: .seconds(200)) {
                switch event {
                case .timer:
                    let settling = sim.now > .seconds(130)
                    // Leadership moves now and then, sometimes mid-step.
                    var cut = 1.0
                    if !settling && sim.rng.chance(0.15) {
                        cut = sim.rng.unitDouble()
                        model.leader = sim.rng.int(in: 0..<3)
                        sim.record("leader \(model.leader) at \(sim.now), cut \(cut)")
                    }
                    model.leaderStep(rng: &rng, cut: cut)
                    if cut < 1 { model.cache = nil; model.scheduler = Scheduler(configuration: model.scheduler.configuration) }
                    model.agentsStep()
                    model.store.now += 1
                    sim.setTimer(0, tag: 0, after: .seconds(1))
                case .control(1):
                    model.store.edit("Deployment", "default", "web") { d in
                        d.set([["name": "app", "image": "nginx:2", "resources": ["requests": ["cpu": "100m", "memory": "64Mi"]]]],
                              at: ["spec", "template", "spec", "containers"])
                    }
                case .control(2):
                    model.store.edit("Deployment", "default", "burst") { $0.set(80, at: ["spec", "replicas"]) }
                case .control(3):
                    model.dead.insert("n3")
                default:
                    break
                }
                try simCheck(model.violations.isEmpty, model.violations.joined(separator: "; "))
            }
            let web = model.activePods("web")
            try simCheck(web.count == 6, "web has \(web.count) pods")
            try simCheck(web.allSatisfy { $0.view.spec?.containers.first?.image == "nginx:2" }, "rollout unfinished")
            try simCheck(web.allSatisfy { $0.view.isReady && $0.view.spec?.nodeName != "n3" }, "web pods not ready on live nodes")
            let burst = model.activePods("burst")
            try simCheck(burst.count == 80, "burst has \(burst.count) pods")
            try simCheck(burst.allSatisfy { $0.view.isReady && $0.view.spec?.nodeName != "n3" }, "burst pods not ready on live nodes")
            let d = model.store.get("Deployment", "default", "web")
            try simCheck(d?["metadata"]?["annotations"]?[DeploymentController.revisionAnnotation] == "2", "revision")
            try simCheck(model.store.list("ReplicaSet").count == 3, "replica sets: \(model.store.list("ReplicaSet").count)")
            try simCheck(model.bindings.count >= 86, "bindings: \(model.bindings.count)")
        }
    }
}
