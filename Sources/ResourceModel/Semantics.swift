/// Helpers the controllers, scheduler and node agent share, so they agree on meaning.
public enum PodTemplates {
    /// A template in canonical form for semantic comparison: defaults applied, nulls dropped,
    /// empty label/annotation maps and empty metadata removed, and the `pod-template-hash` label ignored.
    /// `rollout undo` sends `creationTimestamp: null` and `resources: {}`; this makes that equal to the stored template.
    public static func normalized(_ template: JSONValue) -> JSONValue {
        var t = dropNulls(template)
        if case .object = t {
            t.update(["spec"]) { Defaulting.podSpec(&$0) }
            t.update(["metadata"]) { meta in
                meta.update(["labels"]) { $0["pod-template-hash"] = nil }
                for key in ["labels", "annotations"] where meta[key]?.objectValue?.isEmpty == true { meta[key] = nil }
            }
            if t["metadata"]?.objectValue?.isEmpty == true { t["metadata"] = nil }
        }
        return t
    }

    public static func semanticallyEqual(_ a: JSONValue, _ b: JSONValue) -> Bool {
        normalized(a) == normalized(b)
    }

    /// A stable name-safe hash of the normalized template (the `pod-template-hash` label and RS name suffix).
    public static func hash(_ template: JSONValue, collisionCount: Int32? = nil) -> String {
        var h: UInt32 = 2_166_136_261
        func feed(_ bytes: some Sequence<UInt8>) {
            for b in bytes {
                h ^= UInt32(b)
                h = h &* 16_777_619
            }
        }
        feed(normalized(template).serialized(sortedKeys: true).utf8)
        if let collisionCount { feed(String(collisionCount).utf8) }
        // Like Kubernetes' SafeEncodeString: map the decimal digits onto consonants and safe digits.
        let alphabet = Array("bcdfghjklmnpqrstvwxz2456789")
        return String(String(h).utf8.map { alphabet[Int($0) % alphabet.count] })
    }

    static func dropNulls(_ v: JSONValue) -> JSONValue {
        switch v {
        case .object(let o):
            var out = JSONObject()
            for (k, child) in o where child != .null { out[k] = dropNulls(child) }
            return .object(out)
        case .array(let items): return .array(items.map(dropNulls))
        default: return v
        }
    }
}

public enum PodResources {
    /// The pod's effective request per resource, as the scheduler counts it: the larger of the sum over
    /// app containers and the largest single init container, plus pod overhead.
    public static func requests(_ spec: PodSpec, overhead: ResourceList? = nil) -> ResourceList {
        var total: ResourceList = [:]
        for c in spec.containers {
            for (k, q) in c.resources?.requests ?? [:] { total[k] = (total[k] ?? Quantity(nanos: 0)) + q }
        }
        for c in spec.initContainers ?? [] {
            for (k, q) in c.resources?.requests ?? [:] where q > (total[k] ?? Quantity(nanos: 0)) { total[k] = q }
        }
        for (k, q) in overhead ?? [:] { total[k] = (total[k] ?? Quantity(nanos: 0)) + q }
        return total
    }

    /// Host ports the pod needs (scheduler port conflicts), as (protocol, hostIP, port).
    public static func hostPorts(_ spec: PodSpec) -> [(proto: String, hostIP: String, port: Int)] {
        var out: [(String, String, Int)] = []
        for c in (spec.initContainers ?? []) + spec.containers {
            for p in c.ports ?? [] {
                guard let hp = p.hostPort, hp > 0 else { continue }
                out.append((p.protocol ?? "TCP", p.hostIP ?? "0.0.0.0", hp))
            }
        }
        if spec.hostNetwork == true {
            for c in spec.containers {
                for p in c.ports ?? [] where (p.hostPort ?? 0) == 0 { out.append((p.protocol ?? "TCP", p.hostIP ?? "0.0.0.0", p.containerPort)) }
            }
        }
        return out
    }
}

extension Condition {
    public var isTrue: Bool { status == "True" }
}

extension Array where Element == Condition {
    public func first(ofType type: String) -> Condition? { first { $0.type == type } }
}

extension Pod {
    /// The pod's `Ready` condition is True.
    public var isReady: Bool { status?.conditions?.first(ofType: "Ready")?.isTrue ?? false }
    /// Terminal phases: the pod will not run again.
    public var isTerminal: Bool { status?.phase == "Succeeded" || status?.phase == "Failed" }
    public var isBeingDeleted: Bool { metadata?.deletionTimestamp != nil }
}

extension Node {
    public var isReady: Bool { status?.conditions?.first(ofType: "Ready")?.isTrue ?? false }
    public var labels: [String: String] { metadata?.labels ?? [:] }
}

extension RollingUpdateDeployment {
    /// Kubernetes `ResolveFenceposts`: absolute maxSurge (rounded up) and maxUnavailable (rounded down)
    /// for `desired` replicas; if both come out 0, one pod may be unavailable so the rollout can progress.
    /// Nil when a value is neither an int nor a percentage.
    public func resolve(desired: Int) -> (maxSurge: Int, maxUnavailable: Int)? {
        guard let surge = (maxSurge ?? .string("25%")).scaledValue(total: desired, roundUp: true),
              let unavailable = (maxUnavailable ?? .string("25%")).scaledValue(total: desired, roundUp: false)
        else { return nil }
        if surge == 0 && unavailable == 0 { return (0, 1) }
        return (surge, unavailable)
    }
}
