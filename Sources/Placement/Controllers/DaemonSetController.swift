import ResourceModel

/// One reconcile step of the DaemonSet controller: one pod per eligible node, created already bound,
/// replaced under a rolling update at most `maxUnavailable` at a time.
public enum DaemonSetController {
    public static let revisionHashLabel = "controller-revision-hash"

    /// Tolerations every daemon pod gets, so daemons keep running on troubled nodes.
    public static let defaultTolerations: [Toleration] = [
        Toleration(key: NodeLifecycle.notReadyTaintKey, operator: "Exists", effect: "NoExecute"),
        Toleration(key: NodeLifecycle.unreachableTaintKey, operator: "Exists", effect: "NoExecute"),
        Toleration(key: "node.kubernetes.io/disk-pressure", operator: "Exists", effect: "NoSchedule"),
        Toleration(key: "node.kubernetes.io/memory-pressure", operator: "Exists", effect: "NoSchedule"),
        Toleration(key: "node.kubernetes.io/pid-pressure", operator: "Exists", effect: "NoSchedule"),
        Toleration(key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule"),
    ]

    /// Whether a daemon pod with this template should run on the node (selector, required affinity, taints).
    public static func shouldRun(_ template: PodSpec?, on node: Node) -> Bool {
        let labels = node.labels
        let name = node.metadata?.name ?? ""
        for (k, v) in template?.nodeSelector ?? [:] where labels[k] != v { return false }
        if let required = template?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution,
           !required.matches(nodeLabels: labels, nodeName: name) { return false }
        let tolerations = (template?.tolerations ?? []) + defaultTolerations
        for taint in node.spec?.taints ?? [] where taint.effect == "NoSchedule" || taint.effect == "NoExecute" {
            if !tolerations.contains(where: { $0.tolerates(taint) }) { return false }
        }
        return true
    }

    public static func reconcile<R: RandomNumberGenerator>(_ daemonSet: JSONValue, nodes: [Node], pods: [ObservedPod], now: Int64,
                                                          using rng: inout R) -> [ControllerAction] {
        guard let ds = Observed<DaemonSet>(daemonSet), ds.view.metadata?.deletionTimestamp == nil else { return [] }
        let meta = ds.view.metadata ?? ObjectMeta()
        let uid = meta.uid ?? ""
        let namespace = meta.namespace ?? "default"
        let ref = ControllerSupport.reference("DaemonSet", apiVersion: "apps/v1", meta)
        let owner = ControllerSupport.ownerReference(kind: "DaemonSet", apiVersion: "apps/v1", meta)
        let templateJSON = daemonSet["spec"]?["template"] ?? .object(JSONObject())
        let templateSpec = ds.view.spec?.template?.spec
        let hash = PodTemplates.hash(templateJSON)
        let minReady = ds.view.spec?.minReadySeconds ?? 0
        var actions: [ControllerAction] = []

        let mine = pods.filter { ($0.meta.namespace ?? "default") == namespace && $0.meta.controllerRef?.uid == uid && $0.isActive }
        var byNode: [String: [ObservedPod]] = [:]
        for p in mine { byNode[p.view.spec?.nodeName ?? "", default: []].append(p) }

        func delete(_ pod: ObservedPod) {
            actions.append(.delete(kind: "Pod", namespace: namespace, name: pod.name, uid: pod.uid))
            actions.append(ControllerSupport.event(ref, "SuccessfulDelete", "Deleted pod: \(pod.name)"))
        }

        var desired = 0, current = 0, misscheduled = 0, ready = 0, updated = 0, available = 0
        var unavailableNow = 0
        var oldAvailable: [ObservedPod] = []
        var oldUnavailable: [ObservedPod] = []
        let nodeNames = Set(nodes.compactMap { $0.metadata?.name })
        for node in nodes.sorted(by: { ($0.metadata?.name ?? "") < ($1.metadata?.name ?? "") }) {
            let nodeName = node.metadata?.name ?? ""
            let onNode = (byNode[nodeName] ?? []).sorted { ($0.meta.creationTimestamp ?? "", $0.name) < ($1.meta.creationTimestamp ?? "", $1.name) }
            guard shouldRun(templateSpec, on: node) else {
                if !onNode.isEmpty { misscheduled += 1 }
                onNode.forEach(delete)
                continue
            }
            desired += 1
            guard let keep = onNode.first else {
                unavailableNow += 1
                let pod = daemonPod(daemonSet, nodeName: nodeName, hash: hash, owner: owner, using: &rng)
                actions.append(.create(kind: "Pod", object: pod))
                actions.append(ControllerSupport.event(ref, "SuccessfulCreate", "Created pod: \(pod["metadata"]?["name"]?.stringValue ?? "")"))
                continue
            }
            onNode.dropFirst().forEach(delete)
            current += 1
            let isAvailable = ControllerSupport.isAvailable(keep.view, minReadySeconds: minReady, now: now)
            if keep.view.isReady { ready += 1 }
            if isAvailable { available += 1 } else { unavailableNow += 1 }
            if keep.labels[revisionHashLabel] == hash { updated += 1 } else if isAvailable { oldAvailable.append(keep) } else { oldUnavailable.append(keep) }
        }
        // Pods bound to nodes that no longer exist.
        for (nodeName, list) in byNode.sorted(by: { $0.key < $1.key }) where !nodeNames.contains(nodeName) {
            list.forEach(delete)
        }

        // Rolling update: old pods that are already unavailable go first (free), then available ones within maxUnavailable.
        let strategy = ds.view.spec?.updateStrategy
        if strategy?.type ?? "RollingUpdate" == "RollingUpdate" {
            let maxUnavailable = max(1, (strategy?.rollingUpdate?.maxUnavailable ?? .int(1)).scaledValue(total: desired, roundUp: true) ?? 1)
            oldUnavailable.forEach(delete)
            var budget = maxUnavailable - unavailableNow
            for pod in oldAvailable where budget > 0 {
                delete(pod)
                budget -= 1
            }
        }

        var status = daemonSet["status"]?.objectValue ?? JSONObject()
        status["desiredNumberScheduled"] = .int(Int64(desired))
        status["currentNumberScheduled"] = .int(Int64(current))
        status["numberMisscheduled"] = .int(Int64(misscheduled))
        status["numberReady"] = .int(Int64(ready))
        status["updatedNumberScheduled"] = updated == 0 ? JSONValue?.none : .int(Int64(updated))
        status["numberAvailable"] = available == 0 ? JSONValue?.none : .int(Int64(available))
        status["numberUnavailable"] = desired - available == 0 ? JSONValue?.none : .int(Int64(desired - available))
        status["observedGeneration"] = .int(meta.generation ?? 1)
        if daemonSet["status"] != .object(status) {
            actions.append(.updateStatus(kind: "DaemonSet", object: ControllerSupport.setting(daemonSet, ["status"], .object(status))))
        }
        return actions
    }

    /// The daemon pod for one node: bound by `spec.nodeName`, and pinned by node affinity on
    /// `metadata.name` as Kubernetes does, with the default daemon tolerations.
    static func daemonPod<R: RandomNumberGenerator>(_ ds: JSONValue, nodeName: String, hash: String, owner: JSONValue, using rng: inout R) -> JSONValue {
        var pod = ControllerSupport.pod(from: ds["spec"]?["template"], namespace: ds["metadata"]?["namespace"]?.stringValue ?? "default",
                                        generateName: (ds["metadata"]?["name"]?.stringValue ?? "ds") + "-", owner: owner,
                                        extraLabels: [revisionHashLabel: hash], using: &rng)
        pod.set(.string(nodeName), at: ["spec", "nodeName"])
        let term: JSONValue = ["matchFields": [["key": "metadata.name", "operator": "In", "values": [.string(nodeName)]]]]
        pod.set(["nodeSelectorTerms": [term]], at: ["spec", "affinity", "nodeAffinity", "requiredDuringSchedulingIgnoredDuringExecution"])
        var tolerations = pod["spec"]?["tolerations"]?.arrayValue ?? []
        let existing = (try? JSONValue.array(tolerations).decode([Toleration].self)) ?? []
        for t in defaultTolerations where !existing.contains(t) {
            if let json = try? JSONValue.encode(t) { tolerations.append(json) }
        }
        pod.set(.array(tolerations), at: ["spec", "tolerations"])
        return pod
    }
}
