import ResourceModel

/// One reconcile step of the ReplicaSet controller: keep `spec.replicas` active pods that match the
/// selector and are owned by the ReplicaSet.
public enum ReplicaSetController {
    /// At most this many creates or deletes per step (Kubernetes' burstReplicas).
    public static let burstReplicas = 500

    /// - Parameters:
    ///   - replicaSet: the ReplicaSet as stored.
    ///   - pods: the pods of its namespace (the controller picks its own and orphans that match).
    ///   - now: epoch seconds, for availability (`minReadySeconds`).
    public static func reconcile<R: RandomNumberGenerator>(_ replicaSet: JSONValue, pods: [ObservedPod], now: Int64,
                                                          using rng: inout R) -> [ControllerAction] {
        guard let rs = Observed<ReplicaSet>(replicaSet), rs.view.metadata?.deletionTimestamp == nil else { return [] }
        let meta = rs.view.metadata ?? ObjectMeta()
        let uid = meta.uid ?? ""
        let namespace = meta.namespace ?? "default"
        let ref = ControllerSupport.reference("ReplicaSet", apiVersion: "apps/v1", meta)
        let owner = ControllerSupport.ownerReference(kind: "ReplicaSet", apiVersion: "apps/v1", meta)
        let selector = ControllerSupport.selector(rs.view.spec?.selector)
        var actions: [ControllerAction] = []

        // Claim: adopt matching orphans, release owned pods that stopped matching.
        var mine: [ObservedPod] = []
        for pod in pods where pod.meta.namespace ?? "default" == namespace {
            let controller = pod.meta.controllerRef
            let matches = selector.matches(pod.labels)
            if controller?.uid == uid {
                if matches { mine.append(pod) } else if !pod.view.isBeingDeleted {
                    actions.append(.update(kind: "Pod", object: ControllerSupport.removingOwner(pod.json, uid: uid)))
                }
            } else if controller == nil, matches, !pod.view.isBeingDeleted, !selector.isEmpty {
                actions.append(.update(kind: "Pod", object: ControllerSupport.addingOwner(pod.json, owner)))
                mine.append(pod)
            }
        }

        let active = mine.filter(\.isActive)
        let desired = Int(rs.view.spec?.replicas ?? 1)
        let diff = active.count - desired
        if diff < 0 {
            let hash = rs.view.spec?.template?.metadata?.labels?["pod-template-hash"]
            let prefix = (meta.name ?? "rs") + "-"
            for _ in 0..<min(-diff, burstReplicas) {
                let pod = ControllerSupport.pod(from: replicaSet["spec"]?["template"], namespace: namespace, generateName: prefix, owner: owner,
                                                extraLabels: hash.map { ["pod-template-hash": $0] } ?? [:], using: &rng)
                actions.append(.create(kind: "Pod", object: pod))
                actions.append(ControllerSupport.event(ref, "SuccessfulCreate", "Created pod: \(pod["metadata"]?["name"]?.stringValue ?? "")"))
            }
        } else if diff > 0 {
            for pod in DeletionRanking.sorted(active).prefix(min(diff, burstReplicas)) {
                actions.append(.delete(kind: "Pod", namespace: namespace, name: pod.name, uid: pod.uid))
                actions.append(ControllerSupport.event(ref, "SuccessfulDelete", "Deleted pod: \(pod.name)"))
            }
        }

        // Status reflects the pods observed now; the next step sees the effect of this one.
        let templateLabels = rs.view.spec?.template?.metadata?.labels ?? [:]
        let minReady = rs.view.spec?.minReadySeconds ?? 0
        var status = replicaSet["status"]?.objectValue ?? JSONObject()
        status["replicas"] = .int(Int64(active.count))
        status["fullyLabeledReplicas"] = .int(Int64(active.filter { p in templateLabels.allSatisfy { p.labels[$0.key] == $0.value } }.count))
        status["readyReplicas"] = .int(Int64(active.filter { $0.view.isReady }.count))
        status["availableReplicas"] = .int(Int64(active.filter { ControllerSupport.isAvailable($0.view, minReadySeconds: minReady, now: now) }.count))
        status["observedGeneration"] = .int(meta.generation ?? 1)
        if replicaSet["status"] != .object(status) {
            actions.append(.updateStatus(kind: "ReplicaSet", object: ControllerSupport.setting(replicaSet, ["status"], .object(status))))
        }
        return actions
    }
}
