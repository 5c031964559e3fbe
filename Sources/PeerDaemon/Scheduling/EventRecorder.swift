import Consensus
import Placement
import ResourceModel

/// Turns Placement's `EventRecord`s into Event objects, rate-limited: a repeat of the same event for the same
/// object within `dedupeSeconds` is dropped, and at most `perSecond` (bursting to `burst`) are written, so a
/// burst of 50,000 bindings does not become 50,000 more writes.
struct EventRecorder {
    var perSecond = 50.0
    var burst = 500.0
    var dedupeSeconds: Int64 = 300
    let reportingInstance: String

    private var tokens = 500.0
    private var lastRefill: Int64?
    private var recent: [String: Int64] = [:]
    private(set) var dropped = 0

    init(reportingInstance: String) { self.reportingInstance = reportingInstance }

    static func component(for record: EventRecord) -> String {
        switch record.reason {
        case "Scheduled", "FailedScheduling", "Preempted": return "default-scheduler"
        default: break
        }
        switch record.involvedObject.kind {
        case "Deployment": return "deployment-controller"
        case "ReplicaSet": return "replicaset-controller"
        case "Job": return "job-controller"
        case "DaemonSet": return "daemonset-controller"
        case "Node": return "node-controller"
        default: return record.reason == "TaintManagerEviction" ? "taint-eviction-controller" : "placement"
        }
    }

    /// The Event objects to write now for `records` (`now` in epoch seconds, `uid` draws a fresh uid).
    mutating func objects(for records: [EventRecord], now: Int64, uid: () -> String) -> [(key: String, object: JSONValue)] {
        if let last = lastRefill { tokens = min(burst, tokens + Double(max(0, now - last)) * perSecond) }
        lastRefill = now
        if recent.count > 20_000 { recent = recent.filter { now - $0.value < dedupeSeconds } }
        var out: [(key: String, object: JSONValue)] = []
        for record in records {
            let ref = record.involvedObject
            let identity = "\(ref.kind ?? "")/\(ref.namespace ?? "")/\(ref.name ?? "")/\(ref.uid ?? "")|\(record.reason)|\(record.message)"
            if let seen = recent[identity], now - seen < dedupeSeconds { continue }
            guard tokens >= 1 else { dropped += 1; continue }
            tokens -= 1
            recent[identity] = now
            let id = uid()
            let namespace = ref.namespace ?? "default"
            let name = "\(ref.name ?? "object").\(id.replacingDashes())"
            let timestamp = Timestamp.format(epochSeconds: now)
            let ts = JSONValue.string(timestamp)
            var involved = JSONObject()
            if let v = ref.apiVersion { involved["apiVersion"] = .string(v) }
            if let v = ref.kind { involved["kind"] = .string(v) }
            if let v = ref.namespace { involved["namespace"] = .string(v) }
            if let v = ref.name { involved["name"] = .string(v) }
            if let v = ref.uid { involved["uid"] = .string(v) }
            let object = EventObject.make(
                metadata: ["name": .string(name), "namespace": .string(namespace), "uid": .string(id), "creationTimestamp": ts],
                involvedObject: .object(involved), type: record.type.rawValue, reason: record.reason, message: record.message,
                component: Self.component(for: record), host: reportingInstance, timestamp: timestamp)
            guard let info = ResourceRegistry.lookup(kind: "Event") else { continue }
            out.append((ObjectKeys.key(info, namespace: namespace, name: name), object))
        }
        return out
    }
}

extension String {
    func replacingDashes() -> String { String(filter { $0 != "-" }.prefix(16)) }
}
