import Placement
import ResourceModel

/// A tiny in-memory object store with the write semantics the shell gives controller actions:
/// creates fail if the name exists, updates are compare-and-swap on `metadata.resourceVersion`.
struct MiniStore {
    /// kind → key → object.
    var byKind: [String: [String: JSONValue]] = [:]
    /// Decoded pods, kept in step with the store (decoding is the slow part of a debug build).
    var decodedPods: [String: ObservedPod] = [:]
    var revision: Int64 = 0
    var uidCounter = 0
    var now: Int64 = 1_700_000_000
    var events: [EventRecord] = []
    var conflicts = 0

    static func key(_ kind: String, _ namespace: String?, _ name: String) -> String { "\(kind)/\(namespace ?? "")/\(name)" }

    func get(_ kind: String, _ namespace: String?, _ name: String) -> JSONValue? { byKind[kind]?[Self.key(kind, namespace, name)] }

    func list(_ kind: String) -> [JSONValue] {
        guard let objects = byKind[kind] else { return [] }
        return objects.keys.sorted().compactMap { objects[$0] }
    }

    var pods: [ObservedPod] { decodedPods.keys.sorted().compactMap { decodedPods[$0] } }

    /// Every write goes through here.
    mutating func put(_ kind: String, _ key: String, _ object: JSONValue?) {
        byKind[kind, default: [:]][key] = object
        if kind == "Pod" { decodedPods[key] = object.flatMap(ObservedPod.init) }
    }
    var nodes: [Node] { list("Node").compactMap { try? $0.decode(Node.self) } }

    static let workloadKinds: Set<String> = ["Deployment", "ReplicaSet", "DaemonSet", "Job"]

    @discardableResult
    mutating func create(_ kind: String, _ object: JSONValue) -> JSONValue? {
        let ns = kind == "Node" ? nil : (object["metadata"]?["namespace"]?.stringValue ?? "default")
        let name = object["metadata"]?["name"]?.stringValue ?? ""
        let key = Self.key(kind, ns, name)
        guard get(kind, ns, name) == nil, !name.isEmpty else { return nil }
        revision += 1
        uidCounter += 1
        var o = object
        o.set(.string("uid-\(kind.lowercased())-\(uidCounter)"), at: ["metadata", "uid"])
        o.set(.string(String(revision)), at: ["metadata", "resourceVersion"])
        o.set(.string(Timestamp.format(epochSeconds: now)), at: ["metadata", "creationTimestamp"])
        if let ns { o.set(.string(ns), at: ["metadata", "namespace"]) }
        if Self.workloadKinds.contains(kind) { o.set(.int(1), at: ["metadata", "generation"]) }
        put(kind, key, o)
        return o
    }

    /// Applies one action; false when it conflicted (the controller will retry on its next step).
    @discardableResult
    mutating func apply(_ action: ControllerAction) -> Bool {
        switch action {
        case .create(let kind, let object):
            return create(kind, object) != nil
        case .update(let kind, let object), .updateStatus(let kind, let object):
            let ns = kind == "Node" ? nil : (object["metadata"]?["namespace"]?.stringValue ?? "default")
            let key = Self.key(kind, ns, object["metadata"]?["name"]?.stringValue ?? "")
            guard let current = byKind[kind]?[key], current["metadata"]?["resourceVersion"] == object["metadata"]?["resourceVersion"] else {
                conflicts += 1
                return false
            }
            revision += 1
            var next = current
            if case .updateStatus = action {
                next["status"] = object["status"]
            } else {
                next["metadata"] = object["metadata"]
                next["spec"] = object["spec"]
                if Self.workloadKinds.contains(kind), current["spec"] != object["spec"] {
                    next.set(.int((current["metadata"]?["generation"]?.intValue ?? 1) + 1), at: ["metadata", "generation"])
                }
            }
            next.set(.string(String(revision)), at: ["metadata", "resourceVersion"])
            put(kind, key, next)
            return true
        case .delete(let kind, let namespace, let name, let uid):
            let key = Self.key(kind, kind == "Node" ? nil : namespace, name)
            guard let current = byKind[kind]?[key] else { return false }
            if let uid, current["metadata"]?["uid"]?.stringValue != uid { return false }
            put(kind, key, nil)
            revision += 1
            return true
        case .event(let e):
            events.append(e)
            return true
        }
    }

    mutating func apply(_ actions: [ControllerAction]) { for a in actions { apply(a) } }

    /// Edits an object as a user would (spec change bumps generation).
    mutating func edit(_ kind: String, _ namespace: String?, _ name: String, _ body: (inout JSONValue) -> Void) {
        guard var o = get(kind, namespace, name) else { return }
        body(&o)
        apply(.update(kind: kind, object: o))
    }

    /// Plays the node agent: pods bound to a node run, and become ready.
    mutating func runPods(ready: Bool = true, only: ((ObservedPod) -> Bool)? = nil) {
        for pod in pods where pod.view.spec?.nodeName != nil && pod.view.status?.phase == nil && (only?(pod) ?? true) {
            setPhase(pod, "Running", ready: ready)
        }
    }

    mutating func setPhase(_ pod: ObservedPod, _ phase: String, ready: Bool) {
        var json = pod.json
        let condition: JSONValue = ["type": "Ready", "status": .string(ready ? "True" : "False"),
                                    "lastTransitionTime": .string(Timestamp.format(epochSeconds: now))]
        json.set(["phase": .string(phase), "conditions": [condition]], at: ["status"])
        apply(.updateStatus(kind: "Pod", object: json))
    }

    /// Binds every unbound pod round-robin (a stand-in scheduler for controller tests).
    mutating func bindAll(nodes names: [String]) {
        var i = 0
        for pod in pods where pod.view.spec?.nodeName == nil {
            var json = pod.json
            json.set(.string(names[i % names.count]), at: ["spec", "nodeName"])
            apply(.update(kind: "Pod", object: json))
            i += 1
        }
    }
}

func deploymentJSON(_ name: String, replicas: Int, image: String = "nginx:1", maxSurge: JSONValue = 1, maxUnavailable: JSONValue = 0,
                    strategy: String = "RollingUpdate", historyLimit: Int? = nil, progressDeadline: Int? = nil) -> JSONValue {
    var spec: JSONObject = [
        "replicas": .int(Int64(replicas)),
        "selector": ["matchLabels": ["app": .string(name)]],
        "template": ["metadata": ["labels": ["app": .string(name)]],
                     "spec": ["containers": [["name": "app", "image": .string(image)]]]],
    ]
    spec["strategy"] = strategy == "Recreate" ? ["type": "Recreate"]
        : ["type": "RollingUpdate", "rollingUpdate": ["maxSurge": maxSurge, "maxUnavailable": maxUnavailable]]
    if let historyLimit { spec["revisionHistoryLimit"] = .int(Int64(historyLimit)) }
    if let progressDeadline { spec["progressDeadlineSeconds"] = .int(Int64(progressDeadline)) }
    return ["apiVersion": "apps/v1", "kind": "Deployment", "metadata": ["name": .string(name), "namespace": "default"], "spec": .object(spec)]
}

func replicaSetJSON(_ name: String, replicas: Int, labels: [String: String]) -> JSONValue {
    ["apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": ["name": .string(name), "namespace": "default"],
     "spec": ["replicas": .int(Int64(replicas)), "selector": ["matchLabels": selectorJSON(labels)],
              "template": ["metadata": ["labels": selectorJSON(labels)], "spec": ["containers": [["name": "app", "image": "nginx"]]]]]]
}

func nodeJSON(_ name: String, labels: [String: String] = [:], taints: [Taint] = [], ready: String = "True") -> JSONValue {
    // justified: typed fixtures always encode
    try! JSONValue.encode(makeNode(name, labels: labels, taints: taints, ready: ready))
}

extension Array where Element == ControllerAction {
    var creates: [JSONValue] { compactMap { if case .create(_, let o) = $0 { return o }; return nil } }
    var deletes: [String] { compactMap { if case .delete(_, _, let n, _) = $0 { return n }; return nil } }
    var events: [EventRecord] { compactMap { if case .event(let e) = $0 { return e }; return nil } }
    var statusUpdates: [JSONValue] { compactMap { if case .updateStatus(_, let o) = $0 { return o }; return nil } }
    var updates: [JSONValue] { compactMap { if case .update(_, let o) = $0 { return o }; return nil } }
}
