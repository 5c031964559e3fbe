import ResourceModel

/// The garbage collector over owner references: dependents whose owners are all gone are deleted
/// (background cascading); an owner deleted with the `orphan` finalizer releases its dependents first;
/// one deleted with `foregroundDeletion` waits for its dependents to be deleted.
public enum GarbageCollector {
    public static let orphanFinalizer = "orphan"
    public static let foregroundFinalizer = "foregroundDeletion"

    /// Any stored object taking part in ownership.
    public struct Item: Sendable {
        public var kind: String
        public var json: JSONValue
        public init(kind: String, json: JSONValue) { self.kind = kind; self.json = json }
        var meta: JSONValue? { json["metadata"] }
        var uid: String { meta?["uid"]?.stringValue ?? "" }
        var name: String { meta?["name"]?.stringValue ?? "" }
        var namespace: String? { meta?["namespace"]?.stringValue }
        var ownerUIDs: [String] { (meta?["ownerReferences"]?.arrayValue ?? []).compactMap { $0["uid"]?.stringValue } }
        var finalizers: [String] { (meta?["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue) }
        var isBeingDeleted: Bool { meta?["deletionTimestamp"] != nil && meta?["deletionTimestamp"] != .null }
    }

    public static func collect(_ items: [Item]) -> [ControllerAction] {
        var byUID: [String: Item] = [:]
        for i in items { byUID[i.uid] = i }
        var dependents: [String: [Item]] = [:]
        for i in items { for o in Set(i.ownerUIDs) { dependents[o, default: []].append(i) } }
        var actions: [ControllerAction] = []
        var deleting: Set<String> = []

        for owner in items.sorted(by: { $0.uid < $1.uid }) where owner.isBeingDeleted {
            let deps = (dependents[owner.uid] ?? []).sorted { $0.uid < $1.uid }
            if owner.finalizers.contains(orphanFinalizer) {
                for d in deps { actions.append(.update(kind: d.kind, object: ControllerSupport.removingOwner(d.json, uid: owner.uid))) }
                if deps.isEmpty { actions.append(.update(kind: owner.kind, object: removingFinalizer(owner.json, orphanFinalizer))) }
            } else if owner.finalizers.contains(foregroundFinalizer) {
                for d in deps where !d.isBeingDeleted && !deleting.contains(d.uid) {
                    deleting.insert(d.uid)
                    actions.append(.delete(kind: d.kind, namespace: d.namespace, name: d.name, uid: d.uid))
                }
                if deps.isEmpty { actions.append(.update(kind: owner.kind, object: removingFinalizer(owner.json, foregroundFinalizer))) }
            }
        }
        // Background cascade: every owner is absent.
        for item in items.sorted(by: { $0.uid < $1.uid }) where !item.ownerUIDs.isEmpty && !item.isBeingDeleted && !deleting.contains(item.uid) {
            if item.ownerUIDs.allSatisfy({ byUID[$0] == nil }) {
                deleting.insert(item.uid)
                actions.append(.delete(kind: item.kind, namespace: item.namespace, name: item.name, uid: item.uid))
            }
        }
        return actions
    }

    static func removingFinalizer(_ json: JSONValue, _ finalizer: String) -> JSONValue {
        let kept = (json["metadata"]?["finalizers"]?.arrayValue ?? []).filter { $0.stringValue != finalizer }
        return ControllerSupport.setting(json, ["metadata", "finalizers"], kept.isEmpty ? JSONValue?.none : .array(kept))
    }
}
