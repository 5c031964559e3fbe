import Consensus
import Placement
import ResourceModel

/// The scheduling leader's copy of the objects Placement works on (pods, nodes and the workload kinds), kept
/// current from the store's watch history: list once at one revision, then apply every event after it.
struct ObjectMirror {
    struct Entry {
        var json: JSONValue
        var modRevision: UInt64
    }

    /// One applied change; `old` nil for an add, `new` nil for a delete.
    struct Change {
        var kind: String
        var key: String
        var old: JSONValue?
        var new: JSONValue?
    }

    static let kinds = ["Pod", "Node", "Deployment", "ReplicaSet", "DaemonSet", "Job"]
    /// The kinds the controllers reconcile (and resync).
    static let controllerKinds = ["Deployment", "ReplicaSet", "DaemonSet", "Job"]
    static let infos: [ResourceInfo] = kinds.compactMap(ResourceRegistry.lookup(kind:))
    static let prefixes: [(prefix: String, info: ResourceInfo)] = infos.map { (ObjectKeys.prefix($0, namespace: nil), $0) }

    let codec: ObjectCodec
    /// kind → store key → object.
    private(set) var objects: [String: [String: Entry]] = [:]
    /// Pods decoded once, by store key: decoding is the costly part of following a busy cluster.
    private(set) var pods: [String: ObservedPod] = [:]
    /// Everything up to this revision has been applied.
    private(set) var revision: UInt64 = 0

    init(codec: ObjectCodec) { self.codec = codec }

    static func info(forKey key: String) -> ResourceInfo? {
        prefixes.first { key.hasPrefix($0.prefix) }?.info
    }

    static func key(kind: String, namespace: String?, name: String) -> String? {
        guard let info = ResourceRegistry.lookup(kind: kind) else { return nil }
        return ObjectKeys.key(info, namespace: info.namespaced ? (namespace ?? "default") : nil, name: name)
    }

    static func key(of object: JSONValue, kind: String) -> String? {
        key(kind: kind, namespace: object["metadata"]?["namespace"]?.stringValue, name: object["metadata"]?["name"]?.stringValue ?? "")
    }

    func entries(_ kind: String) -> [String: Entry] { objects[kind] ?? [:] }
    func entry(_ kind: String, key: String) -> Entry? { objects[kind]?[key] }

    /// Replaces everything with a listing read at `revision`.
    mutating func load(_ items: [StoreKeyValue], revision: UInt64) -> [Change] {
        objects = [:]
        pods = [:]
        var changes: [Change] = []
        for kv in items {
            if let change = put(kv) { changes.append(change) }
        }
        self.revision = revision
        return changes
    }

    /// Applies watch events in order; events at or below `revision` were already applied.
    mutating func apply(_ events: [StoreEvent], through next: UInt64) -> [Change] {
        var changes: [Change] = []
        for event in events where event.revision > revision {
            switch event.type {
            case .added, .modified:
                if let change = put(event.kv) { changes.append(change) }
            case .deleted:
                if let change = remove(event.kv.key) { changes.append(change) }
            }
        }
        revision = max(revision, next)
        return changes
    }

    private mutating func put(_ kv: StoreKeyValue) -> Change? {
        guard let info = Self.info(forKey: kv.key) else { return nil }
        let old = objects[info.kind]?[kv.key]
        // Our own write, already recorded when it was acknowledged.
        if let old, old.modRevision >= kv.modRevision { return nil }
        guard let json = codec.decode(kv.value, as: info, modRevision: kv.modRevision) else { return nil }
        objects[info.kind, default: [:]][kv.key] = Entry(json: json, modRevision: kv.modRevision)
        if info.kind == "Pod" { pods[kv.key] = ObservedPod(json) }
        return Change(kind: info.kind, key: kv.key, old: old?.json, new: json)
    }

    private mutating func remove(_ key: String) -> Change? {
        guard let info = Self.info(forKey: key), let old = objects[info.kind]?.removeValue(forKey: key) else { return nil }
        if info.kind == "Pod" { pods[key] = nil }
        return Change(kind: info.kind, key: key, old: old.json, new: nil)
    }

    /// Records a write this leader made and the store acknowledged, so its echo in the watch is skipped.
    mutating func recordWrite(kind: String, key: String, json: JSONValue, modRevision: UInt64, pod: ObservedPod? = nil) {
        var stored = json
        stored.set(.string(String(modRevision)), at: ["metadata", "resourceVersion"])
        objects[kind, default: [:]][key] = Entry(json: stored, modRevision: modRevision)
        if kind == "Pod" {
            pods[key] = pod.map { ObservedPod(json: stored, view: $0.view) } ?? ObservedPod(stored)
        }
    }
}
