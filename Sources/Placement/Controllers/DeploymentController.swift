import ResourceModel

/// One reconcile step of the Deployment controller: a ReplicaSet per pod template, rolled forward by
/// rolling update (maxSurge / maxUnavailable, counting availability) or Recreate, with revisions,
/// history cleanup and the status conditions kubectl reads.
public enum DeploymentController {
    public static let revisionAnnotation = "deployment.kubernetes.io/revision"
    public static let desiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
    public static let maxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"

    /// A ReplicaSet as this step plans it: the stored JSON plus the replicas it will have.
    struct Planned {
        var json: JSONValue
        var view: ReplicaSet
        var replicas: Int
        var isNew: Bool
        var created = false
        var changed = false
        var name: String { view.metadata?.name ?? "" }
        var uid: String? { view.metadata?.uid }
        var revision: Int { Int(view.metadata?.annotations?[DeploymentController.revisionAnnotation] ?? "") ?? 0 }
        var available: Int { Int(view.status?.availableReplicas ?? 0) }
        var statusReplicas: Int { Int(view.status?.replicas ?? 0) }
        var creation: Int64 { view.metadata?.creationTimestamp.flatMap(Timestamp.parse) ?? 0 }
    }

    /// - Parameters:
    ///   - deployment: the Deployment as stored.
    ///   - replicaSets: the ReplicaSets of its namespace.
    ///   - pods: the pods of its namespace (Recreate waits for old pods to be gone).
    ///   - now: epoch seconds.
    public static func reconcile(_ deployment: JSONValue, replicaSets: [JSONValue], pods: [ObservedPod], now: Int64) -> [ControllerAction] {
        guard let d = Observed<Deployment>(deployment), d.view.metadata?.deletionTimestamp == nil else { return [] }
        let meta = d.view.metadata ?? ObjectMeta()
        let spec = d.view.spec ?? DeploymentSpec()
        let uid = meta.uid ?? ""
        let namespace = meta.namespace ?? "default"
        let ref = ControllerSupport.reference("Deployment", apiVersion: "apps/v1", meta)
        let owner = ControllerSupport.ownerReference(kind: "Deployment", apiVersion: "apps/v1", meta)
        let selector = ControllerSupport.selector(spec.selector)
        let desired = Int(spec.replicas ?? 1)
        let paused = spec.paused ?? false
        let recreate = spec.strategy?.type == "Recreate"
        let (maxSurge, maxUnavailable) = recreate ? (0, 0) : ((spec.strategy?.rollingUpdate ?? RollingUpdateDeployment()).resolve(desired: desired) ?? (1, 0))
        var actions: [ControllerAction] = []

        // Claim ReplicaSets.
        var owned: [Planned] = []
        for json in replicaSets {
            guard let rs = Observed<ReplicaSet>(json), (rs.view.metadata?.namespace ?? "default") == namespace,
                  rs.view.metadata?.deletionTimestamp == nil else { continue }
            let labels = rs.view.metadata?.labels ?? [:]
            let controller = rs.view.metadata?.controllerRef
            var claimed = json
            if controller?.uid == uid {
                guard selector.matches(labels) else {
                    actions.append(.update(kind: "ReplicaSet", object: ControllerSupport.removingOwner(json, uid: uid)))
                    continue
                }
            } else if controller == nil, selector.matches(labels), !selector.isEmpty {
                claimed = ControllerSupport.addingOwner(json, owner)
            } else {
                continue
            }
            var p = Planned(json: claimed, view: rs.view, replicas: Int(rs.view.spec?.replicas ?? 0), isNew: false)
            p.changed = claimed != json
            owned.append(p)
        }
        owned.sort { ($0.creation, $0.name) < ($1.creation, $1.name) }

        let template = deployment["spec"]?["template"] ?? .object(JSONObject())
        var newIndex = owned.firstIndex { PodTemplates.semanticallyEqual($0.json["spec"]?["template"] ?? .null, template) }
        let maxOldRevision = owned.indices.filter { $0 != newIndex }.map { owned[$0].revision }.max() ?? 0

        if let i = newIndex {
            owned[i].isNew = true
            // A rollback reuses the old ReplicaSet and makes it the newest revision.
            if owned[i].revision <= maxOldRevision {
                owned[i].json = annotate(owned[i].json, revisionAnnotation, String(maxOldRevision + 1))
                var annotations = owned[i].view.metadata?.annotations ?? [:]
                annotations[revisionAnnotation] = String(maxOldRevision + 1)
                owned[i].view.metadata?.annotations = annotations
                owned[i].changed = true
            }
        } else if !paused {
            let oldReplicas = owned.reduce(0) { $0 + $1.replicas }
            let initial = recreate ? 0 : max(0, min(desired, desired + maxSurge - oldReplicas))
            let rs = newReplicaSet(deployment, template: template, revision: maxOldRevision + 1, replicas: initial, owner: owner,
                                   maxSurge: maxSurge, desired: desired)
            if let view = try? rs.decode(ReplicaSet.self) {
                var p = Planned(json: rs, view: view, replicas: initial, isNew: true)
                p.created = true
                owned.append(p)
                newIndex = owned.count - 1
            }
        }
        let createdNew = newIndex.map { owned[$0].created } ?? false

        func scale(_ i: Int, to n: Int) {
            guard owned[i].replicas != n else { return }
            owned[i].replicas = n
            owned[i].changed = true
        }
        let oldIndices = owned.indices.filter { $0 != newIndex }

        if !paused, let ni = newIndex {
            if recreate {
                for i in oldIndices { scale(i, to: 0) }
                let oldUIDs = Set(oldIndices.compactMap { owned[$0].uid })
                let oldPodsRunning = pods.contains { $0.isActive && oldUIDs.contains($0.meta.controllerRef?.uid ?? "") }
                    || oldIndices.contains { owned[$0].statusReplicas > 0 }
                if !oldPodsRunning { scale(ni, to: desired) }
            } else {
                // Scale the new ReplicaSet up within the surge budget (or down to the desired count).
                let total = owned.reduce(0) { $0 + $1.replicas }
                if owned[ni].replicas > desired {
                    scale(ni, to: desired)
                } else if owned[ni].replicas < desired, total < desired + maxSurge {
                    scale(ni, to: owned[ni].replicas + min(desired + maxSurge - total, desired - owned[ni].replicas))
                }
                // Scale old ReplicaSets down without going below minAvailable.
                if oldIndices.contains(where: { owned[$0].replicas > 0 }) {
                    let all = owned.reduce(0) { $0 + $1.replicas }
                    let minAvailable = desired - maxUnavailable
                    let newUnavailable = max(0, owned[ni].replicas - owned[ni].available)
                    var budget = all - minAvailable - newUnavailable
                    if budget > 0 {
                        // Unhealthy old pods go first: removing them costs no availability.
                        for i in oldIndices where budget > 0 {
                            let unhealthy = max(0, owned[i].replicas - owned[i].available)
                            let down = min(budget, unhealthy)
                            if down > 0 {
                                scale(i, to: owned[i].replicas - down)
                                budget -= down
                            }
                        }
                        let available = owned.reduce(0) { $0 + min($1.available, $1.replicas) }
                        var remaining = min(budget, available - minAvailable)
                        for i in oldIndices where remaining > 0 {
                            let down = min(owned[i].replicas, remaining)
                            if down > 0 {
                                scale(i, to: owned[i].replicas - down)
                                remaining -= down
                            }
                        }
                    }
                }
            }
        } else if paused, let ni = newIndex, oldIndices.allSatisfy({ owned[$0].replicas == 0 }) {
            scale(ni, to: desired)  // scaling still applies while paused
        }

        // History: delete the oldest fully scaled-down ReplicaSets beyond revisionHistoryLimit.
        let limit = Int(spec.revisionHistoryLimit ?? 10)
        var deleted: Set<Int> = []
        if !paused, oldIndices.allSatisfy({ owned[$0].replicas == 0 }) {
            let candidates = oldIndices.filter { owned[$0].replicas == 0 && owned[$0].statusReplicas == 0 }.sorted { owned[$0].revision < owned[$1].revision }
            for i in candidates.prefix(max(0, candidates.count - limit)) {
                deleted.insert(i)
                actions.append(.delete(kind: "ReplicaSet", namespace: namespace, name: owned[i].name, uid: owned[i].uid))
            }
        }

        // Emit ReplicaSet writes and scaling events.
        for i in owned.indices where !deleted.contains(i) && (owned[i].changed || owned[i].created) {
            let before = Int(owned[i].view.spec?.replicas ?? 0)
            var json = owned[i].json
            json.set(.int(Int64(owned[i].replicas)), at: ["spec", "replicas"])
            if before != owned[i].replicas || owned[i].created {
                json = annotate(json, desiredReplicasAnnotation, String(desired))
                json = annotate(json, maxReplicasAnnotation, String(desired + maxSurge))
            }
            actions.append(owned[i].created ? .create(kind: "ReplicaSet", object: json) : .update(kind: "ReplicaSet", object: json))
            let from = owned[i].created ? 0 : before
            if owned[i].replicas > from {
                actions.append(ControllerSupport.event(ref, "ScalingReplicaSet", "Scaled up replica set \(owned[i].name) to \(owned[i].replicas)"))
            } else if owned[i].replicas < from {
                actions.append(ControllerSupport.event(ref, "ScalingReplicaSet", "Scaled down replica set \(owned[i].name) to \(owned[i].replicas)"))
            }
        }

        // The Deployment carries its new ReplicaSet's revision. Metadata and status are separate
        // compare-and-swap writes, so the status waits for the next step.
        if let ni = newIndex {
            let revision = String(owned[ni].view.metadata?.annotations?[revisionAnnotation] ?? String(owned[ni].revision))
            if meta.annotations?[revisionAnnotation] != revision {
                actions.append(.update(kind: "Deployment", object: annotate(deployment, revisionAnnotation, revision)))
                return actions
            }
        }

        if let status = status(deployment, d.view, owned: owned.enumerated().filter { !deleted.contains($0.offset) }.map(\.element),
                               newIndex: newIndex, desired: desired, maxUnavailable: maxUnavailable, createdNew: createdNew, now: now) {
            actions.append(.updateStatus(kind: "Deployment", object: ControllerSupport.setting(deployment, ["status"], status)))
        }
        return actions
    }

    static func annotate(_ json: JSONValue, _ key: String, _ value: String) -> JSONValue {
        var annotations = json["metadata"]?["annotations"]?.objectValue ?? JSONObject()
        annotations[key] = .string(value)
        return ControllerSupport.setting(json, ["metadata", "annotations"], .object(annotations))
    }

    static func newReplicaSet(_ deployment: JSONValue, template: JSONValue, revision: Int, replicas: Int, owner: JSONValue,
                              maxSurge: Int, desired: Int) -> JSONValue {
        let hash = PodTemplates.hash(template)
        let dname = deployment["metadata"]?["name"]?.stringValue ?? ""
        var t = template
        var labels = t["metadata"]?["labels"]?.objectValue ?? JSONObject()
        labels["pod-template-hash"] = .string(hash)
        t.set(.object(labels), at: ["metadata", "labels"])
        var selector = deployment["spec"]?["selector"] ?? .object(JSONObject())
        var matchLabels = selector["matchLabels"]?.objectValue ?? JSONObject()
        matchLabels["pod-template-hash"] = .string(hash)
        selector.set(.object(matchLabels), at: ["matchLabels"])
        var annotations = JSONObject()
        annotations[revisionAnnotation] = .string(String(revision))
        annotations[desiredReplicasAnnotation] = .string(String(desired))
        annotations[maxReplicasAnnotation] = .string(String(desired + maxSurge))
        var meta = JSONObject()
        meta["name"] = .string("\(dname)-\(hash)")
        meta["namespace"] = deployment["metadata"]?["namespace"] ?? "default"
        meta["labels"] = .object(labels)
        meta["annotations"] = .object(annotations)
        meta["ownerReferences"] = [owner]
        var spec = JSONObject()
        spec["replicas"] = .int(Int64(replicas))
        spec["selector"] = selector
        spec["template"] = t
        if let m = deployment["spec"]?["minReadySeconds"] { spec["minReadySeconds"] = m }
        return .object(JSONObject([("apiVersion", "apps/v1"), ("kind", "ReplicaSet"), ("metadata", .object(meta)), ("spec", .object(spec))]))
    }

    static func status(_ json: JSONValue, _ d: Deployment, owned: [Planned], newIndex: Int?, desired: Int, maxUnavailable: Int,
                       createdNew: Bool, now: Int64) -> JSONValue? {
        let old = d.status ?? DeploymentStatus()
        let newRS = owned.first { $0.isNew }
        let replicas = owned.reduce(0) { $0 + $1.statusReplicas }
        let updated = newRS?.statusReplicas ?? 0
        let ready = owned.reduce(0) { $0 + Int($1.view.status?.readyReplicas ?? 0) }
        let available = owned.reduce(0) { $0 + $1.available }
        let specTotal = owned.reduce(0) { $0 + $1.replicas }
        var status = json["status"]?.objectValue ?? JSONObject()
        status["observedGeneration"] = .int(d.metadata?.generation ?? 1)
        func setCount(_ key: String, _ v: Int) { status[key] = v == 0 ? JSONValue?.none : .int(Int64(v)) }
        setCount("replicas", replicas)
        setCount("updatedReplicas", updated)
        setCount("readyReplicas", ready)
        setCount("availableReplicas", available)
        setCount("unavailableReplicas", max(0, specTotal - available))

        var conditions = status["conditions"]?.arrayValue ?? []
        if available >= desired - maxUnavailable {
            ControllerSupport.setCondition(&conditions, type: "Available", status: "True", reason: "MinimumReplicasAvailable",
                                           message: "Deployment has minimum availability.", now: now)
        } else {
            ControllerSupport.setCondition(&conditions, type: "Available", status: "False", reason: "MinimumReplicasUnavailable",
                                           message: "Deployment does not have minimum availability.", now: now)
        }
        let rsName = newRS?.name ?? ""
        let progressing = conditions.first { $0["type"]?.stringValue == "Progressing" }
        let deadline = Int64(d.spec?.progressDeadlineSeconds ?? 600)
        let complete = newRS != nil && updated == desired && replicas == desired && available == desired
            && (newRS?.replicas ?? 0) == desired
        if d.spec?.paused == true {
            ControllerSupport.setCondition(&conditions, type: "Progressing", status: "Unknown", reason: "DeploymentPaused",
                                           message: "Deployment is paused", now: now, touchUpdateTime: true)
        } else if progressing?["reason"]?.stringValue == "DeploymentPaused" {
            ControllerSupport.setCondition(&conditions, type: "Progressing", status: "Unknown", reason: "DeploymentResumed",
                                           message: "Deployment is resumed", now: now, touchUpdateTime: true)
        } else if complete {
            ControllerSupport.setCondition(&conditions, type: "Progressing", status: "True", reason: "NewReplicaSetAvailable",
                                           message: "ReplicaSet \"\(rsName)\" has successfully progressed.", now: now,
                                           touchUpdateTime: progressing?["reason"]?.stringValue != "NewReplicaSetAvailable")
        } else if createdNew {
            ControllerSupport.setCondition(&conditions, type: "Progressing", status: "True", reason: "NewReplicaSetCreated",
                                           message: "Created new replica set \"\(rsName)\"", now: now, touchUpdateTime: true)
        } else if updated > Int(old.updatedReplicas ?? 0) || ready > Int(old.readyReplicas ?? 0) || available > Int(old.availableReplicas ?? 0)
                    || replicas - updated < Int(old.replicas ?? 0) - Int(old.updatedReplicas ?? 0) {
            ControllerSupport.setCondition(&conditions, type: "Progressing", status: "True", reason: "ReplicaSetUpdated",
                                           message: "ReplicaSet \"\(rsName)\" is progressing.", now: now, touchUpdateTime: true)
        } else if let progressing, progressing["status"]?.stringValue != "False",
                  progressing["reason"]?.stringValue != "NewReplicaSetAvailable",
                  let last = progressing["lastUpdateTime"]?.stringValue.flatMap(Timestamp.parse), last + deadline < now {
            ControllerSupport.setCondition(&conditions, type: "Progressing", status: "False", reason: "ProgressDeadlineExceeded",
                                           message: "ReplicaSet \"\(rsName)\" has timed out progressing.", now: now, touchUpdateTime: true)
        } else if progressing == nil, newRS != nil {
            ControllerSupport.setCondition(&conditions, type: "Progressing", status: "True", reason: "FoundNewReplicaSet",
                                           message: "Found new replica set \"\(rsName)\"", now: now, touchUpdateTime: true)
        }
        // kubectl lists Available before Progressing.
        conditions.sort { ($0["type"]?.stringValue == "Available" ? 0 : 1) < ($1["type"]?.stringValue == "Available" ? 0 : 1) }
        status["conditions"] = .array(conditions)
        let result = JSONValue.object(status)
        return result == json["status"] ? JSONValue?.none : result
    }
}
