/// Rules that only apply when an existing object is replaced (PUT or PATCH): immutable fields.
/// Run after `Validation.validate` on the new object; both objects should be defaulted.
extension Validation {
    public static let podUpdateMessage = "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)"

    public static func validateUpdate(_ new: JSONValue, old: JSONValue, as info: ResourceInfo) -> [FieldError] {
        var errs: [FieldError] = []
        func immutable(_ path: [String], render: (JSONValue?) -> FieldError.BadValue) {
            let a = new.value(at: path), b = old.value(at: path)
            if PodTemplates.dropNulls(a ?? .null) != PodTemplates.dropNulls(b ?? .null) {
                errs.append(.invalid(path.joined(separator: "."), render(a), "field is immutable"))
            }
        }
        let selectorValue: (JSONValue?) -> FieldError.BadValue = { v in
            let sel: LabelSelector = (try? (v ?? .null).decode()) ?? LabelSelector()
            return .raw(goLabelSelector(sel))
        }
        switch info.kind {
        case "Deployment", "ReplicaSet", "DaemonSet":
            immutable(["spec", "selector"], render: selectorValue)
        case "Job":
            immutable(["spec", "selector"], render: selectorValue)
            immutable(["spec", "completions"]) { v in v?.intValue.map { .int($0) } ?? .raw("null") }
            // The template may change only while the job is suspended.
            if old["spec"]?["suspend"] != true {
                immutable(["spec", "template"]) { _ in .raw("core.PodTemplateSpec{...}") }
            }
        case "Pod":
            if !podSpecUpdateAllowed(new: new["spec"] ?? .null, old: old["spec"] ?? .null) {
                errs.append(.forbidden("spec", podUpdateMessage))
            }
        case "ConfigMap", "Secret":
            if old["immutable"] == true {
                for field in ["data", "binaryData", "immutable"] where new[field] != old[field] {
                    errs.append(.forbidden(field, "field is immutable when `immutable` is set"))
                }
            }
            if info.kind == "Secret", let oldType = old["type"]?.stringValue, let newType = new["type"]?.stringValue, oldType != newType {
                errs.append(.invalid("type", .string(newType), "field is immutable"))
            }
        case "Service":
            if let oldIP = old["spec"]?["clusterIP"]?.stringValue, !oldIP.isEmpty,
               let newIP = new["spec"]?["clusterIP"]?.stringValue, !newIP.isEmpty, newIP != oldIP {
                errs.append(.invalid("spec.clusterIPs[0]", .raw("[]string{\(goQuote(newIP))}"), "may not change once set"))
            }
        default:
            break
        }
        return errs
    }

    /// Masks the mutable parts of a pod spec and compares the rest. `nodeName` may go from empty to
    /// set, which is how a binding lands when the scheduler writes through this path.
    static func podSpecUpdateAllowed(new: JSONValue, old: JSONValue) -> Bool {
        var a = PodTemplates.dropNulls(new), b = PodTemplates.dropNulls(old)
        for key in ["initContainers", "containers"] {
            guard let na = a[key]?.arrayValue, let ob = b[key]?.arrayValue, na.count == ob.count else { continue }
            var masked = na
            for i in masked.indices { masked[i]["image"] = ob[i]["image"] }
            a[key] = .array(masked)
        }
        a["activeDeadlineSeconds"] = b["activeDeadlineSeconds"]
        if let oldGrace = b["terminationGracePeriodSeconds"]?.intValue, oldGrace < 0 {
            a["terminationGracePeriodSeconds"] = b["terminationGracePeriodSeconds"]
        }
        // Tolerations may only be added to.
        let oldTolerations = b["tolerations"]?.arrayValue ?? []
        let newTolerations = a["tolerations"]?.arrayValue ?? []
        if oldTolerations.allSatisfy({ newTolerations.contains($0) }) { a["tolerations"] = b["tolerations"] }
        if (b["nodeName"]?.stringValue ?? "").isEmpty { a["nodeName"] = b["nodeName"] }
        return a == b
    }
}
