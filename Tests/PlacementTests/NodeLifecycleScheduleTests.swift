import Placement
import ResourceModel
import Testing

/// The node-lifecycle step run the way the leader's shell runs it: only when its `ReconcileSchedule` says a
/// pass is due (an input changed, a pass acted, or the deadline the step computed arrived), at most once a
/// second — never on a fixed tick.
struct ScheduledNodeLifecycle {
    var store = MiniStore()
    var schedule = ReconcileSchedule()
    var health: NodeLifecycle.Health? = .alive
    let configuration = NodeLifecycle.Configuration(evictionGracePeriodSeconds: 40)
    /// When each pass ran, and what it did.
    var passes: [Int64] = []
    var deleted: [String: Int64] = [:]

    /// Gossip's verdict on the node changed.
    mutating func setHealth(_ h: NodeLifecycle.Health?) {
        health = h
        schedule.inputsChanged()
    }

    /// One second of the shell; returns the pass's actions (none when no pass was due).
    @discardableResult
    mutating func second() -> [ControllerAction] {
        defer { store.now += 1 }
        guard schedule.isDue(now: store.now), let node = store.get("Node", nil, "n1") else { return [] }
        passes.append(store.now)
        let actions = NodeLifecycle.reconcile(node, health: health, pods: store.pods, now: store.now, configuration: configuration)
        schedule.ran(now: store.now, acted: !actions.isEmpty,
                     next: NodeLifecycle.nextDeadline(node, pods: store.pods, now: store.now, configuration: configuration))
        store.apply(actions)
        for name in actions.deletes { deleted[name] = store.now }
        // The writes come back through the watch: the node or its pods changed.
        if actions.contains(where: { if case .event = $0 { return false }; return true }) { schedule.inputsChanged() }
        return actions
    }

    func passes(in range: ClosedRange<Int64>) -> [Int64] { passes.filter(range.contains) }
}

@Suite struct NodeLifecycleScheduleTests {
    func podJSON(_ name: String, tolerationSeconds: Int64?? = nil) -> JSONValue {
        var pod: JSONValue = ["metadata": ["name": .string(name)], "spec": ["nodeName": "n1", "containers": [["name": "c"]]]]
        if let seconds = tolerationSeconds {
            var toleration: JSONValue = ["key": .string(NodeLifecycle.unreachableTaintKey), "operator": "Exists", "effect": "NoExecute"]
            if let seconds { toleration["tolerationSeconds"] = .int(seconds) }
            pod.set([toleration], at: ["spec", "tolerations"])
        }
        return pod
    }

    @Test("a node that stops heartbeating is Unknown at once, and its pods are evicted exactly at the grace period, with no passes between")
    func stopsHeartbeating() throws {
        var cluster = ScheduledNodeLifecycle()
        cluster.store.create("Node", nodeJSON("n1"))
        cluster.store.create("Pod", podJSON("web"))
        cluster.store.create("Pod", podJSON("patient", tolerationSeconds: 10))
        cluster.store.create("Pod", podJSON("daemon", tolerationSeconds: .some(nil)))
        let started = cluster.store.now
        for _ in 0..<20 { cluster.second() }
        #expect(cluster.passes == [started], "an idle node is looked at once, then only on a change")

        cluster.setHealth(.dead)
        let stopped = cluster.store.now
        let first = cluster.second()
        #expect(first.events.map(\.message) == ["Node n1 status is now: NodeNotReady"])
        let ready = try #require(cluster.store.nodes.first?.status?.conditions?.first(ofType: "Ready"))
        #expect(ready.status == "Unknown" && ready.lastTransitionTime.flatMap(Timestamp.parse) == stopped)
        while cluster.store.now <= stopped + cluster.configuration.evictionGracePeriodSeconds + 5 { cluster.second() }

        #expect(cluster.deleted["patient"] == stopped + 10, "its own tolerationSeconds")
        #expect(cluster.deleted["web"] == stopped + cluster.configuration.evictionGracePeriodSeconds, "exactly the grace period")
        #expect(cluster.deleted["daemon"] == nil, "tolerates the taint forever")
        #expect(cluster.store.nodes.first?.spec?.taints?.contains { $0.key == NodeLifecycle.unreachableTaintKey && $0.effect == "NoExecute" } == true)
        // Between the taint landing and each eviction the step is not run at all.
        #expect(cluster.passes(in: (stopped + 3)...(stopped + 9)).isEmpty)
        #expect(cluster.passes(in: (stopped + 13)...(stopped + cluster.configuration.evictionGracePeriodSeconds - 1)).isEmpty)
        #expect(cluster.passes.contains(stopped + 10) && cluster.passes.contains(stopped + cluster.configuration.evictionGracePeriodSeconds))
    }

    @Test("a node heartbeating again is Ready at once, and untainted on the next pass")
    func heartbeatsAgain() throws {
        var cluster = ScheduledNodeLifecycle()
        cluster.store.create("Node", nodeJSON("n1"))
        cluster.store.create("Pod", podJSON("web"))
        cluster.second()
        cluster.setHealth(.suspect)
        for _ in 0..<5 { cluster.second() }
        #expect(cluster.store.nodes.first?.isReady == false)
        #expect(cluster.store.nodes.first?.spec?.taints?.isEmpty == false)

        cluster.setHealth(.alive)
        let back = cluster.store.now
        let actions = cluster.second()
        #expect(actions.events.map(\.message) == ["Node n1 status is now: NodeReady"])
        let ready = try #require(cluster.store.nodes.first?.status?.conditions?.first(ofType: "Ready"))
        #expect(ready.status == "True" && ready.lastTransitionTime.flatMap(Timestamp.parse) == back)
        cluster.second()
        #expect(cluster.store.nodes.first?.spec?.taints == nil)
        #expect(cluster.store.pods.map(\.name) == ["web"], "recovered before the grace period: nothing evicted")
        // Settled: no deadline is left, so nothing runs until the next change.
        let settled = cluster.store.now
        for _ in 0..<60 { cluster.second() }
        #expect(cluster.passes(in: (settled + 1)...(settled + 60)).isEmpty)
    }

    @Test("the step's deadline: the next eviction after now, none while Ready or when every pod tolerates forever")
    func nextDeadline() throws {
        var store = MiniStore()
        store.create("Node", nodeJSON("n1"))
        store.create("Pod", podJSON("web"))
        store.create("Pod", podJSON("patient", tolerationSeconds: 5))
        let configuration = NodeLifecycle.Configuration(evictionGracePeriodSeconds: 40)
        let readyNode = try #require(store.get("Node", nil, "n1"))
        #expect(NodeLifecycle.nextDeadline(readyNode, pods: store.pods, now: store.now, configuration: configuration) == nil)

        store.apply(NodeLifecycle.reconcile(readyNode, health: .dead, pods: store.pods, now: store.now, configuration: configuration))
        let since = store.now
        let node = try #require(store.get("Node", nil, "n1"))
        func deadline(at now: Int64, pods: [ObservedPod]? = nil) -> Int64? {
            NodeLifecycle.nextDeadline(node, pods: pods ?? store.pods, now: now, configuration: configuration)
        }
        #expect(deadline(at: since) == since + 5)
        #expect(deadline(at: since + 5) == since + 40, "a deadline that has come is the step's to act on, not a future one")
        #expect(deadline(at: since + 40) == nil)
        #expect(deadline(at: since, pods: store.pods.filter { $0.name == "web" }) == since + 40)
        #expect(deadline(at: since, pods: []) == nil)
        // Pods on other nodes do not count.
        var elsewhere = podJSON("other")
        elsewhere.set("n2", at: ["spec", "nodeName"])
        store.create("Pod", elsewhere)
        #expect(deadline(at: since, pods: store.pods.filter { $0.name == "other" }) == nil)
    }

    @Test("the schedule: due at once on a change, a second after a pass that acted, at its deadline, else never")
    func schedule() {
        var s = ReconcileSchedule()
        #expect(s.isDue(now: 0) && s.dueAt == Int64.min, "nothing seen yet")
        s.ran(now: 100, acted: false, next: nil)
        #expect(!s.isDue(now: 100 + 86_400) && s.dueAt == nil)
        s.inputsChanged()
        #expect(s.isDue(now: 101))
        s.ran(now: 101, acted: true, next: 150)
        #expect(!s.isDue(now: 101) && s.isDue(now: 101 + ReconcileSchedule.retrySeconds))
        s.ran(now: 102, acted: false, next: 150)
        #expect(s.dueAt == 150 && !s.isDue(now: 149) && s.isDue(now: 150))
    }
}
