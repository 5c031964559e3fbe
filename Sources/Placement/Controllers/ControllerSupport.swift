import ResourceModel

/// What a controller wants written. The shell applies each as one compare-and-swap write (on the
/// object's `metadata.resourceVersion` for updates, on absence for creates); a failed write is simply
/// retried by the next reconcile, which sees the newer state.
public enum ControllerAction: Sendable, Equatable {
    /// Create this complete object (its name is already chosen).
    case create(kind: String, object: JSONValue)
    /// Replace the object (spec/metadata), compare-and-swap on its `metadata.resourceVersion`.
    case update(kind: String, object: JSONValue)
    /// Replace the object's status, compare-and-swap on its `metadata.resourceVersion`.
    case updateStatus(kind: String, object: JSONValue)
    /// Delete, with `uid` as precondition when known.
    case delete(kind: String, namespace: String?, name: String, uid: String?)
    case event(EventRecord)

    public var isEvent: Bool { if case .event = self { return true }; return false }
}

/// A stored object: its JSON (the source of truth) and the typed view decoded from it.
public struct Observed<View: Decodable & Sendable>: Sendable {
    public let json: JSONValue
    public let view: View
    public init?(_ json: JSONValue) {
        guard let v = try? json.decode(View.self) else { return nil }
        self.json = json
        view = v
    }
    public init(json: JSONValue, view: View) { self.json = json; self.view = view }
}

public typealias ObservedPod = Observed<Pod>

extension Observed where View == Pod {
    public var meta: ObjectMeta { view.metadata ?? ObjectMeta() }
    public var name: String { meta.name ?? "" }
    public var uid: String? { meta.uid }
    public var labels: [String: String] { meta.labels ?? [:] }
    /// Counts toward a controller's replicas: not finished and not being deleted.
    public var isActive: Bool { !view.isTerminal && !view.isBeingDeleted }
}

enum ControllerSupport {
    static func timestamp(_ now: Int64) -> JSONValue { .string(Timestamp.format(epochSeconds: now)) }

    static func reference(_ kind: String, apiVersion: String, _ meta: ObjectMeta?) -> ObjectReference {
        ObjectReference(apiVersion: apiVersion, kind: kind, namespace: meta?.namespace, name: meta?.name, uid: meta?.uid)
    }

    static func ownerReference(kind: String, apiVersion: String, _ meta: ObjectMeta?) -> JSONValue {
        ["apiVersion": .string(apiVersion), "kind": .string(kind), "name": .string(meta?.name ?? ""), "uid": .string(meta?.uid ?? ""),
         "controller": true, "blockOwnerDeletion": true]
    }

    static func event(_ ref: ObjectReference, _ reason: String, _ message: String, warning: Bool = false) -> ControllerAction {
        .event(EventRecord(involvedObject: ref, reason: reason, message: message, type: warning ? .warning : .normal))
    }

    /// A pod from a template (JSON, so fields the typed views do not model survive), owned by the controller.
    static func pod<R: RandomNumberGenerator>(from template: JSONValue?, namespace: String, generateName: String, owner: JSONValue,
                                               extraLabels: [String: String] = [:], using rng: inout R) -> JSONValue {
        var meta = template?["metadata"]?.objectValue ?? JSONObject()
        let name = ServerFields.generatedName(prefix: generateName, using: &rng)
        meta["name"] = .string(name)
        meta["generateName"] = .string(generateName)
        meta["namespace"] = .string(namespace)
        meta["creationTimestamp"] = nil
        var labels = meta["labels"]?.objectValue ?? JSONObject()
        for (k, v) in extraLabels.sorted(by: { $0.key < $1.key }) { labels[k] = .string(v) }
        if !labels.isEmpty { meta["labels"] = .object(labels) }
        meta["ownerReferences"] = [owner]
        return .object(JSONObject([("apiVersion", "v1"), ("kind", "Pod"), ("metadata", .object(meta)),
                                   ("spec", template?["spec"] ?? .object(JSONObject()))]))
    }

    static func selector(_ s: LabelSelector?) -> LabelSelectorMatcher {
        (try? LabelSelectorMatcher.from(s)) ?? .nothing
    }

    static func readySince(_ pod: Pod) -> Int64? {
        guard let c = pod.status?.conditions?.first(ofType: "Ready"), c.isTrue else { return nil }
        return c.lastTransitionTime.flatMap(Timestamp.parse) ?? Int64.min
    }

    /// Ready for at least `minReadySeconds` (Kubernetes `IsPodAvailable`).
    static func isAvailable(_ pod: Pod, minReadySeconds: Int32, now: Int64) -> Bool {
        guard let since = readySince(pod) else { return false }
        return minReadySeconds <= 0 || since == Int64.min || since + Int64(minReadySeconds) <= now
    }

    /// Sets one condition, keeping `lastTransitionTime` unless the status changes.
    static func setCondition(_ conditions: inout [JSONValue], type: String, status: String, reason: String, message: String, now: Int64,
                             touchUpdateTime: Bool = false) {
        let ts = timestamp(now)
        if let i = conditions.firstIndex(where: { $0["type"]?.stringValue == type }) {
            var c = conditions[i]
            let same = c["status"]?.stringValue == status && c["reason"]?.stringValue == reason && c["message"]?.stringValue == message
            if c["status"]?.stringValue != status { c["lastTransitionTime"] = ts }
            if !same || touchUpdateTime { c["lastUpdateTime"] = ts }
            c["status"] = .string(status)
            c["reason"] = .string(reason)
            c["message"] = .string(message)
            conditions[i] = c
        } else {
            conditions.append(.object(JSONObject([("type", .string(type)), ("status", .string(status)), ("lastUpdateTime", ts),
                                                  ("lastTransitionTime", ts), ("reason", .string(reason)), ("message", .string(message))])))
        }
    }

    /// Sets `path` inside the object, creating intermediate objects.
    static func setting(_ object: JSONValue, _ path: [String], _ value: JSONValue?) -> JSONValue {
        var o = object
        o.set(value, at: path)
        return o
    }

    /// Drops owner references to `uid` (release or orphan).
    static func removingOwner(_ object: JSONValue, uid: String) -> JSONValue {
        let refs = object["metadata"]?["ownerReferences"]?.arrayValue ?? []
        let kept = refs.filter { $0["uid"]?.stringValue != uid }
        return setting(object, ["metadata", "ownerReferences"], kept.isEmpty ? JSONValue?.none : .array(kept))
    }

    static func addingOwner(_ object: JSONValue, _ owner: JSONValue) -> JSONValue {
        let refs = object["metadata"]?["ownerReferences"]?.arrayValue ?? []
        return setting(object, ["metadata", "ownerReferences"], .array(refs + [owner]))
    }

    static func int(_ v: Int32?) -> JSONValue? { v.map { .int(Int64($0)) } }
}

/// Kubernetes' ranking of pods to delete first when scaling down (`ActivePods` order):
/// unscheduled before scheduled, pending before running, not ready before ready, ready for less time
/// first, more restarts first, newer first.
enum DeletionRanking {
    static func sorted(_ pods: [ObservedPod]) -> [ObservedPod] {
        pods.sorted { a, b in
            let (x, y) = (a.view, b.view)
            let ax = (x.spec?.nodeName ?? "").isEmpty, bx = (y.spec?.nodeName ?? "").isEmpty
            if ax != bx { return ax }
            let ap = phaseRank(x.status?.phase), bp = phaseRank(y.status?.phase)
            if ap != bp { return ap < bp }
            if x.isReady != y.isReady { return !x.isReady }
            if x.isReady, y.isReady {
                let ar = ControllerSupport.readySince(x) ?? 0, br = ControllerSupport.readySince(y) ?? 0
                if ar != br { return ar > br }
            }
            let arc = restarts(x), brc = restarts(y)
            if arc != brc { return arc > brc }
            let ac = x.metadata?.creationTimestamp.flatMap(Timestamp.parse) ?? 0, bc = y.metadata?.creationTimestamp.flatMap(Timestamp.parse) ?? 0
            if ac != bc { return ac > bc }
            return a.name < b.name
        }
    }

    static func phaseRank(_ phase: String?) -> Int {
        switch phase { case "Pending", nil: 0; case "Unknown": 1; default: 2 }
    }

    static func restarts(_ pod: Pod) -> Int32 { (pod.status?.containerStatuses ?? []).map(\.restartCount).max() ?? 0 }
}
