/// Server-set metadata and status handling on create and update, mirroring kube-apiserver's
/// registry strategies. Pure: the uid, time and resource version are passed in.
public enum ServerFields {
    /// Kinds whose `metadata.generation` tracks spec changes and whose status is a subresource.
    public static func hasSpecGeneration(_ kind: String) -> Bool {
        ["Deployment", "ReplicaSet", "DaemonSet", "Job"].contains(kind)
    }

    static func hasStatusSubresource(_ kind: String) -> Bool {
        hasSpecGeneration(kind) || ["Pod", "Service", "Node", "Namespace"].contains(kind)
    }

    /// Characters Kubernetes uses for generated name suffixes (no vowels, no look-alikes).
    static let suffixAlphabet = Array("bcdfghjklmnpqrstvwxz2456789")

    /// `generateName` + 5 random characters.
    public static func generatedName<R: RandomNumberGenerator>(prefix: String, using rng: inout R) -> String {
        let base = prefix.count > 58 ? String(prefix.prefix(58)) : prefix
        var s = base
        for _ in 0..<5 { s.append(suffixAlphabet[Int(rng.next() % UInt64(suffixAlphabet.count))]) }
        return s
    }

    /// Fills the fields the server owns on create. `name` must already be resolved (see `generatedName`).
    public static func prepareForCreate(_ object: inout JSONValue, as info: ResourceInfo, uid: String, nowEpochSeconds: Int64,
                                        resourceVersion: String, namespace: String?) {
        object.update(["metadata"]) { meta in
            meta["uid"] = .string(uid)
            meta["creationTimestamp"] = .string(Timestamp.format(epochSeconds: nowEpochSeconds))
            meta["resourceVersion"] = .string(resourceVersion)
            meta["deletionTimestamp"] = nil
            meta["deletionGracePeriodSeconds"] = nil
            meta["selfLink"] = nil
            meta["managedFields"] = nil
            if info.namespaced, let namespace { meta["namespace"] = .string(namespace) }
            if !info.namespaced { meta["namespace"] = nil }
            if hasSpecGeneration(info.kind) { meta["generation"] = .int(1) } else { meta["generation"] = nil }
        }
        if hasSpecGeneration(info.kind) || info.kind == "Service" {
            object["status"] = .object(JSONObject())
        }
        switch info.kind {
        case "Pod":
            var status = JSONObject()
            status["phase"] = "Pending"
            status["qosClass"] = .string(qosClass(object["spec"]))
            object["status"] = .object(status)
        case "Job":
            if object["spec"]?["manualSelector"] != true { generateJobSelector(&object, uid: uid) }
        default:
            break
        }
    }

    /// A job's selector is generated from its uid, and the template labelled to match.
    static func generateJobSelector(_ job: inout JSONValue, uid: String) {
        let name = job["metadata"]?["name"]?.stringValue ?? ""
        job.update(["spec", "selector"]) { sel in
            sel["matchLabels"] = ["batch.kubernetes.io/controller-uid": .string(uid)]
        }
        job.update(["spec", "template", "metadata", "labels"]) { labels in
            labels["batch.kubernetes.io/controller-uid"] = .string(uid)
            labels["batch.kubernetes.io/job-name"] = .string(name)
            labels["controller-uid"] = .string(uid)
            labels["job-name"] = .string(name)
        }
    }

    /// Keeps server-owned fields of `old` on a main-resource update; bumps generation on spec change.
    /// Status changes through the main resource are ignored for kinds with a status subresource.
    public static func prepareForUpdate(_ new: inout JSONValue, old: JSONValue, as info: ResourceInfo, resourceVersion: String) {
        let oldMeta = old["metadata"]
        let specUnchanged = new["spec"] == old["spec"]
        new.update(["metadata"]) { meta in
            for key in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "namespace", "name"] {
                meta[key] = oldMeta?[key]
            }
            meta["resourceVersion"] = .string(resourceVersion)
            if hasSpecGeneration(info.kind) {
                let oldGen = oldMeta?["generation"]?.intValue ?? 1
                meta["generation"] = .int(specUnchanged ? oldGen : oldGen + 1)
            } else {
                meta["generation"] = oldMeta?["generation"]
            }
        }
        if hasStatusSubresource(info.kind) { new["status"] = old["status"] }
    }

    /// For `PUT .../status`: everything but status comes from `old`.
    public static func prepareForStatusUpdate(_ new: JSONValue, old: JSONValue, resourceVersion: String) -> JSONValue {
        var result = old
        result["status"] = new["status"]
        result.update(["metadata"]) { $0["resourceVersion"] = .string(resourceVersion) }
        return result
    }

    /// Kubernetes QoS class from requests and limits of all containers.
    public static func qosClass(_ spec: JSONValue?) -> String {
        let containers = (spec?["containers"]?.arrayValue ?? []) + (spec?["initContainers"]?.arrayValue ?? [])
        var anySet = false
        var guaranteed = true
        for c in containers {
            let requests = c["resources"]?["requests"]?.objectValue ?? JSONObject()
            let limits = c["resources"]?["limits"]?.objectValue ?? JSONObject()
            if !requests.isEmpty || !limits.isEmpty { anySet = true }
            for resource in ["cpu", "memory"] {
                guard let limit = limits[resource].flatMap(quantity) else { guaranteed = false; continue }
                // A missing request defaults to the limit.
                if let request = requests[resource].flatMap(quantity), request != limit { guaranteed = false }
            }
        }
        if !anySet { return "BestEffort" }
        return guaranteed ? "Guaranteed" : "Burstable"
    }

    static func quantity(_ v: JSONValue) -> Quantity? {
        switch v {
        case .string(let s): return try? Quantity.parse(s)
        case .int(let i): return Quantity(nanos: Int128(i) * 1_000_000_000)
        case .double(let d): return try? Quantity.parse("\(d)")
        default: return nil
        }
    }
}
