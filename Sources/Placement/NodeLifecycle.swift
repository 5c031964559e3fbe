import ResourceModel

/// The node lifecycle controller: turns gossip's view of a peer (alive / suspect / dead) into the
/// Node's Ready condition and `NoExecute` taints, and evicts pods from a node that stayed not ready
/// past the grace period, so their controllers replace them elsewhere.
public enum NodeLifecycle {
    public static let notReadyTaintKey = "node.kubernetes.io/not-ready"
    public static let unreachableTaintKey = "node.kubernetes.io/unreachable"

    /// Gossip's membership state for the peer running the node.
    public enum Health: String, Sendable, Equatable { case alive, suspect, dead }

    public struct Configuration: Sendable, Equatable {
        /// How long a node may stay not ready before pods without a matching toleration are evicted.
        public var evictionGracePeriodSeconds: Int64
        public init(evictionGracePeriodSeconds: Int64 = 40) { self.evictionGracePeriodSeconds = evictionGracePeriodSeconds }
    }

    /// One step for one node.
    /// - Parameters:
    ///   - node: the Node as stored.
    ///   - health: gossip's state for it; nil when gossip has never heard of it (no heartbeat).
    ///   - pods: pods (the step picks those bound to this node).
    public static func reconcile(_ node: JSONValue, health: Health?, pods: [ObservedPod], now: Int64,
                                 configuration: Configuration = Configuration()) -> [ControllerAction] {
        guard let n = Observed<Node>(node) else { return [] }
        let name = n.view.metadata?.name ?? ""
        let ref = ObjectReference(apiVersion: "v1", kind: "Node", name: name, uid: n.view.metadata?.uid)
        let ready = n.view.status?.conditions?.first(ofType: "Ready")
        var actions: [ControllerAction] = []

        // 1. The Ready condition. Alive peers keep what their agent reported (it may say False).
        let desired: (status: String, reason: String, message: String)
        switch health {
        case .alive?:
            desired = ready?.status == "Unknown" || ready == nil
                ? ("True", "KubeletReady", "kubelet is posting ready status")
                : (ready?.status ?? "True", ready?.reason ?? "KubeletReady", ready?.message ?? "kubelet is posting ready status")
        default:
            desired = ("Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status.")
        }
        if ready?.status != desired.status {
            var conditions = node["status"]?["conditions"]?.arrayValue ?? []
            ControllerSupport.setCondition(&conditions, type: "Ready", status: desired.status, reason: desired.reason, message: desired.message, now: now)
            actions.append(.updateStatus(kind: "Node", object: ControllerSupport.setting(node, ["status", "conditions"], .array(conditions))))
            let word = desired.status == "True" ? "NodeReady" : "NodeNotReady"
            actions.append(ControllerSupport.event(ref, word, "Node \(name) status is now: \(word)"))
            // Taints follow once the condition is stored (one write per object per step).
            return actions
        }

        // 2. Taints matching the condition.
        let taintKey: String? = switch ready?.status { case "True"?: nil; case "False"?: notReadyTaintKey; default: unreachableTaintKey }
        let taints = n.view.spec?.taints ?? []
        let managed = [notReadyTaintKey, unreachableTaintKey]
        var wanted = taints.filter { !managed.contains($0.key) }
        if let taintKey {
            for effect in ["NoSchedule", "NoExecute"] {
                var t = taints.first { $0.key == taintKey && $0.effect == effect } ?? Taint(key: taintKey, effect: effect)
                if t.timeAdded == nil { t.timeAdded = Timestamp.format(epochSeconds: now) }
                wanted.append(t)
            }
        }
        if wanted != taints, let json = try? JSONValue.encode(wanted) {
            actions.append(.update(kind: "Node", object: ControllerSupport.setting(node, ["spec", "taints"], wanted.isEmpty ? JSONValue?.none : json)))
        }

        // 3. Eviction after the grace period (or a pod's own tolerationSeconds).
        for (pod, at) in evictions(n, name: name, pods: pods, configuration: configuration) where now >= at {
            let namespace = pod.meta.namespace ?? "default"
            actions.append(.delete(kind: "Pod", namespace: namespace, name: pod.name, uid: pod.uid))
            actions.append(.event(EventRecord(involvedObject: ObjectReference(apiVersion: "v1", kind: "Pod", namespace: namespace, name: pod.name, uid: pod.uid),
                                              reason: "TaintManagerEviction", message: "Marking for deletion Pod \(namespace)/\(pod.name)", type: .normal)))
        }
        return actions
    }

    /// The active pods on a not-ready node that its `NoExecute` taint evicts, each with the moment it falls
    /// due: the Ready condition's last transition plus the grace period, or the pod's own tolerationSeconds.
    /// Pods that tolerate the taint forever are not listed; nothing is while the node is Ready.
    static func evictions(_ n: Observed<Node>, name: String, pods: [ObservedPod],
                          configuration: Configuration) -> [(pod: ObservedPod, at: Int64)] {
        let ready = n.view.status?.conditions?.first(ofType: "Ready")
        let taintKey: String? = switch ready?.status { case "True"?: nil; case "False"?: notReadyTaintKey; default: unreachableTaintKey }
        guard let taintKey, let since = ready?.lastTransitionTime.flatMap(Timestamp.parse) else { return [] }
        let taint = Taint(key: taintKey, effect: "NoExecute")
        var out: [(pod: ObservedPod, at: Int64)] = []
        for pod in pods where pod.view.spec?.nodeName == name && pod.isActive {
            let toleration = (pod.view.spec?.tolerations ?? []).first { $0.tolerates(taint) }
            if let toleration {
                guard let seconds = toleration.tolerationSeconds else { continue }  // tolerates forever
                out.append((pod, since + seconds))
            } else {
                out.append((pod, since + configuration.evictionGracePeriodSeconds))
            }
        }
        return out
    }

    /// The first moment after `now` at which `reconcile`, given these same inputs, would act: the next
    /// eviction falling due. nil when only a change of the inputs (the node, its pods, gossip's verdict) can
    /// make it act. A shell runs the step on those changes and at this deadline instead of on a fixed tick.
    public static func nextDeadline(_ node: JSONValue, pods: [ObservedPod], now: Int64,
                                    configuration: Configuration = Configuration()) -> Int64? {
        guard let n = Observed<Node>(node) else { return nil }
        let name = n.view.metadata?.name ?? ""
        return evictions(n, name: name, pods: pods, configuration: configuration).map(\.at).filter { $0 > now }.min()
    }
}
