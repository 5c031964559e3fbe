#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Server-side validation with kube-apiserver's rules and wording. Run it after defaulting, on the
/// object as it would be stored. It never throws: a body that does not even decode is reported as
/// a field error too.
public enum Validation {
    /// Validates an object of the given resource type.
    public static func validate(_ object: JSONValue, as info: ResourceInfo) -> [FieldError] {
        var v = Validator()
        v.objectMeta(object["metadata"], info: info)
        // Quantities are checked on the tree first: a bad one would make the typed view fail to decode.
        let quantityErrors = quantityErrorsInTree(object, info: info)
        if !quantityErrors.isEmpty { return v.errors + quantityErrors }
        do {
            switch info.kind {
            case "Pod":
                let pod: Pod = try object.decode()
                v.podSpec(pod.spec, json: object["spec"], path: "spec")
            case "Deployment":
                let d: Deployment = try object.decode()
                v.deploymentSpec(d.spec ?? DeploymentSpec(), json: object["spec"])
            case "ReplicaSet":
                let rs: ReplicaSet = try object.decode()
                let spec = rs.spec ?? ReplicaSetSpec()
                v.nonNegative(spec.replicas.map(Int64.init), "spec.replicas")
                v.nonNegative(spec.minReadySeconds.map(Int64.init), "spec.minReadySeconds")
                v.selectorAndTemplate(spec.selector, spec.template, json: object["spec"], kindWord: "replicaset", allowedRestart: ["Always"])
            case "DaemonSet":
                let ds: DaemonSet = try object.decode()
                v.daemonSetSpec(ds.spec ?? DaemonSetSpec(), json: object["spec"])
            case "Job":
                let job: Job = try object.decode()
                v.jobSpec(job.spec ?? JobSpec(), json: object["spec"])
            case "Service":
                let svc: Service = try object.decode()
                v.serviceSpec(svc.spec ?? ServiceSpec())
            case "ConfigMap":
                let cm: ConfigMap = try object.decode()
                v.configData(data: cm.data, binary: cm.binaryData, dataField: "data", binaryField: "binaryData", base64Binary: true)
            case "Secret":
                let s: Secret = try object.decode()
                v.configData(data: s.data, binary: nil, dataField: "data", binaryField: "", base64Binary: false)
                v.base64Values(s.data, field: "data")
            case "Node":
                let n: Node = try object.decode()
                for (i, t) in (n.spec?.taints ?? []).enumerated() { v.taint(t, path: "spec.taints[\(i)]") }
            case "Event":
                let e: Event = try object.decode()
                if e.involvedObject == nil { v.errors.append(.required("involvedObject")) }
            case "Endpoints":
                let ep: Endpoints = try object.decode()
                v.endpoints(ep)
            default:
                break
            }
        } catch {
            v.errors.append(FieldError(.typeInvalid, "", .none, "\(error)"))
        }
        return v.errors
    }

    static func quantityErrorsInTree(_ object: JSONValue, info: ResourceInfo) -> [FieldError] {
        var errs: [FieldError] = []
        func checkList(_ list: JSONValue?, path: String) {
            guard let o = list?.objectValue else { return }
            for (k, val) in o {
                let text: String
                switch val {
                case .string(let s): text = s
                case .int, .double: continue
                default:
                    errs.append(.invalid("\(path)[\(k)]", .raw(val.serialized()), Quantity.regexMessage))
                    continue
                }
                do { _ = try Quantity.parse(text) } catch {
                    errs.append(.invalid("\(path)[\(k)]", .string(text), error.description))
                }
            }
        }
        func checkPodSpec(_ spec: JSONValue?, path: String) {
            for list in ["initContainers", "containers"] {
                for (i, c) in (spec?[list]?.arrayValue ?? []).enumerated() {
                    checkList(c["resources"]?["requests"], path: "\(path).\(list)[\(i)].resources.requests")
                    checkList(c["resources"]?["limits"], path: "\(path).\(list)[\(i)].resources.limits")
                }
            }
        }
        switch info.kind {
        case "Pod": checkPodSpec(object["spec"], path: "spec")
        case "Deployment", "ReplicaSet", "DaemonSet", "Job": checkPodSpec(object["spec"]?["template"]?["spec"], path: "spec.template.spec")
        case "Node":
            checkList(object["status"]?["capacity"], path: "status.capacity")
            checkList(object["status"]?["allocatable"], path: "status.allocatable")
        default: break
        }
        return errs
    }
}

struct Validator {
    var errors: [FieldError] = []

    mutating func nonNegative(_ value: Int64?, _ path: String) {
        if let value, value < 0 { errors.append(.invalid(path, .int(value), "must be greater than or equal to 0")) }
    }

    mutating func positive(_ value: Int64?, _ path: String) {
        if let value, value <= 0 { errors.append(.invalid(path, .int(value), "must be greater than zero")) }
    }

    mutating func portNumber(_ port: Int, _ path: String) {
        if port < 1 || port > 65535 { errors.append(.invalid(path, .int(Int64(port)), "must be between 1 and 65535, inclusive")) }
    }

    /// IANA service port names (`IsValidPortName`).
    mutating func portName(_ name: String, _ path: String) {
        let u = Array(name.utf8)
        if u.count > 15 { errors.append(.invalid(path, .string(name), "must be no more than 15 characters")) }
        if !u.allSatisfy({ NameValidation.isLowerAlnum($0) || $0 == UInt8(ascii: "-") }) {
            errors.append(.invalid(path, .string(name), "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"))
        }
        if !u.contains(where: { $0 >= 0x61 && $0 <= 0x7A }) {
            errors.append(.invalid(path, .string(name), "must contain at least one letter (a-z)"))
        }
        if name.contains("--") { errors.append(.invalid(path, .string(name), "must not contain consecutive hyphens")) }
        if name.hasPrefix("-") || name.hasSuffix("-") {
            errors.append(.invalid(path, .string(name), "must not begin or end with a hyphen"))
        }
    }

    mutating func protocolValue(_ proto: String?, _ path: String) {
        guard let proto else { return }
        if proto.isEmpty { errors.append(.required(path)); return }
        if !["TCP", "UDP", "SCTP"].contains(proto) { errors.append(.notSupported(path, proto, ["SCTP", "TCP", "UDP"])) }
    }

    // MARK: metadata

    mutating func objectMeta(_ meta: JSONValue?, info: ResourceInfo) {
        let m: ObjectMeta = (try? (meta ?? .object(JSONObject())).decode()) ?? ObjectMeta()
        let rule: NameValidation.NameRule
        switch info.kind {
        case "Namespace": rule = NameValidation.labelName
        case "Service": rule = NameValidation.dns1035Name
        case "Event": rule = { name, prefix in NameValidation.pathSegmentErrors(name, prefix: prefix) }
        default: rule = NameValidation.subdomainName
        }
        let name = m.name ?? ""
        let generateName = m.generateName ?? ""
        if !generateName.isEmpty {
            for msg in rule(generateName, true) { errors.append(.invalid("metadata.generateName", .string(generateName), msg)) }
        }
        if name.isEmpty {
            if generateName.isEmpty { errors.append(.required("metadata.name", "name or generateName is required")) }
        } else {
            for msg in rule(name, false) { errors.append(.invalid("metadata.name", .string(name), msg)) }
        }
        let ns = m.namespace ?? ""
        if info.namespaced {
            if ns.isEmpty {
                errors.append(.required("metadata.namespace"))
            } else {
                for msg in NameValidation.dns1123Label(ns) { errors.append(.invalid("metadata.namespace", .string(ns), msg)) }
            }
        } else if !ns.isEmpty {
            errors.append(.forbidden("metadata.namespace", "not allowed on this type"))
        }
        if let labels = m.labels { errors += NameValidation.validateLabels(labels, path: "metadata.labels") }
        if let annotations = m.annotations { errors += NameValidation.validateAnnotations(annotations, path: "metadata.annotations") }
        if let g = m.generation { nonNegative(g, "metadata.generation") }
        for (i, ref) in (m.ownerReferences ?? []).enumerated() {
            let p = "metadata.ownerReferences[\(i)]"
            if (ref.apiVersion ?? "").isEmpty { errors.append(.invalid("\(p).apiVersion", .string(""), "version must not be empty")) }
            if (ref.kind ?? "").isEmpty { errors.append(.invalid("\(p).kind", .string(""), "kind must not be empty")) }
            if (ref.name ?? "").isEmpty { errors.append(.invalid("\(p).name", .string(""), "name must not be empty")) }
            if (ref.uid ?? "").isEmpty { errors.append(.invalid("\(p).uid", .string(""), "uid must not be empty")) }
        }
        if (m.ownerReferences ?? []).filter({ $0.controller == true }).count > 1 {
            errors.append(.invalid("metadata.ownerReferences", .raw("[]"), "Only one reference can have Controller set to true"))
        }
    }

    // MARK: pods

    mutating func podSpec(_ spec: PodSpec?, json: JSONValue?, path p: String, allowedRestart: [String] = ["Always", "OnFailure", "Never"]) {
        guard let spec else {
            errors.append(.required("\(p).containers"))
            return
        }
        // Volumes first: mounts refer to them.
        var volumeNames = Set<String>()
        for (i, vol) in (spec.volumes ?? []).enumerated() {
            let vp = "\(p).volumes[\(i)]"
            if vol.name.isEmpty {
                errors.append(.required("\(vp).name"))
            } else {
                for m in NameValidation.dns1123Label(vol.name) { errors.append(.invalid("\(vp).name", .string(vol.name), m)) }
                if volumeNames.contains(vol.name) { errors.append(.duplicate("\(vp).name", .string(vol.name))) }
                volumeNames.insert(vol.name)
            }
            let sources = (json?["volumes"]?.arrayValue?[safe: i]?.objectValue?.keys ?? []).filter { $0 != "name" }
            if sources.isEmpty {
                errors.append(.required(vp, "must specify a volume type"))
            } else if sources.count > 1 {
                errors.append(.forbidden("\(vp).\(sources[1])", "may not specify more than 1 volume type"))
            }
            if let hp = vol.hostPath, hp.path.isEmpty { errors.append(.required("\(vp).hostPath.path")) }
            for mode in [vol.configMap?.defaultMode, vol.secret?.defaultMode].compactMap({ $0 }) where mode < 0 || mode > 0o777 {
                let src = vol.configMap != nil ? "configMap" : "secret"
                errors.append(.invalid("\(vp).\(src).defaultMode", .int(Int64(mode)), "must be a number between 0 and 0777 (octal), both inclusive"))
            }
        }

        if spec.containers.isEmpty { errors.append(.required("\(p).containers")) }
        var names = Set<String>()
        for (i, c) in (spec.initContainers ?? []).enumerated() {
            container(c, path: "\(p).initContainers[\(i)]", names: &names, volumes: volumeNames, isInit: true)
        }
        for (i, c) in spec.containers.enumerated() {
            container(c, path: "\(p).containers[\(i)]", names: &names, volumes: volumeNames, isInit: false)
        }

        if let rp = spec.restartPolicy {
            if rp.isEmpty { errors.append(.required("\(p).restartPolicy")) }
            else if !allowedRestart.contains(rp) { errors.append(.notSupported("\(p).restartPolicy", rp, allowedRestart)) }
        }
        if let dns = spec.dnsPolicy, !["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"].contains(dns) {
            errors.append(.notSupported("\(p).dnsPolicy", dns, ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"]))
        }
        nonNegative(spec.terminationGracePeriodSeconds, "\(p).terminationGracePeriodSeconds")
        if let a = spec.activeDeadlineSeconds, a <= 0 {
            errors.append(.invalid("\(p).activeDeadlineSeconds", .int(a), "must be between 1 and 2147483647, inclusive"))
        }
        if let ns = spec.nodeSelector { errors += NameValidation.validateLabels(ns, path: "\(p).nodeSelector") }
        for (i, t) in (spec.tolerations ?? []).enumerated() { toleration(t, path: "\(p).tolerations[\(i)]") }
        if let affinity = spec.affinity { self.affinity(affinity, path: "\(p).affinity") }
        for (i, c) in (spec.topologySpreadConstraints ?? []).enumerated() {
            let cp = "\(p).topologySpreadConstraints[\(i)]"
            if c.maxSkew <= 0 { errors.append(.invalid("\(cp).maxSkew", .int(Int64(c.maxSkew)), "must be greater than zero")) }
            if c.topologyKey.isEmpty { errors.append(.required("\(cp).topologyKey", "can not be empty")) }
            if !["DoNotSchedule", "ScheduleAnyway"].contains(c.whenUnsatisfiable) {
                errors.append(.notSupported("\(cp).whenUnsatisfiable", c.whenUnsatisfiable, ["DoNotSchedule", "ScheduleAnyway"]))
            }
        }
        if let hn = spec.hostname {
            for m in NameValidation.dns1123Label(hn) { errors.append(.invalid("\(p).hostname", .string(hn), m)) }
        }
    }

    mutating func container(_ c: Container, path cp: String, names: inout Set<String>, volumes: Set<String>, isInit: Bool) {
        if c.name.isEmpty {
            errors.append(.required("\(cp).name"))
        } else {
            for m in NameValidation.dns1123Label(c.name) { errors.append(.invalid("\(cp).name", .string(c.name), m)) }
            if names.contains(c.name) { errors.append(.duplicate("\(cp).name", .string(c.name))) }
            names.insert(c.name)
        }
        if (c.image ?? "").allSatisfy(\.isWhitespace) { errors.append(.required("\(cp).image")) }
        if let policy = c.imagePullPolicy {
            if policy.isEmpty { errors.append(.required("\(cp).imagePullPolicy")) }
            else if !["Always", "IfNotPresent", "Never"].contains(policy) {
                errors.append(.notSupported("\(cp).imagePullPolicy", policy, ["Always", "IfNotPresent", "Never"]))
            }
        }
        if let tmp = c.terminationMessagePolicy, !["File", "FallbackToLogsOnError"].contains(tmp) {
            errors.append(.notSupported("\(cp).terminationMessagePolicy", tmp, ["File", "FallbackToLogsOnError"]))
        }
        var portNames = Set<String>()
        for (i, port) in (c.ports ?? []).enumerated() {
            let pp = "\(cp).ports[\(i)]"
            if let n = port.name, !n.isEmpty {
                portName(n, "\(pp).name")
                if portNames.contains(n) { errors.append(.duplicate("\(pp).name", .string(n))) }
                portNames.insert(n)
            }
            if port.containerPort == 0 { errors.append(.required("\(pp).containerPort")) }
            else { portNumber(port.containerPort, "\(pp).containerPort") }
            if let hp = port.hostPort, hp != 0 { portNumber(hp, "\(pp).hostPort") }
            protocolValue(port.protocol, "\(pp).protocol")
        }
        for (i, e) in (c.env ?? []).enumerated() {
            let ep = "\(cp).env[\(i)]"
            if e.name.isEmpty { errors.append(.required("\(ep).name")) }
            else if !e.name.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "=") }) {
                errors.append(.invalid("\(ep).name", .string(e.name), "a valid environment variable name must consist only of printable ASCII characters other than '='"))
            }
            if let from = e.valueFrom {
                let count = [from.configMapKeyRef != nil, from.secretKeyRef != nil, from.fieldRef != nil, from.resourceFieldRef != nil].filter { $0 }.count
                if count == 0 {
                    errors.append(.invalid("\(ep).valueFrom", .string(""), "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
                } else if count > 1 {
                    errors.append(.invalid("\(ep).valueFrom", .string(""), "may not have more than one field specified at a time"))
                }
                if !(e.value ?? "").isEmpty {
                    errors.append(.invalid("\(ep).valueFrom", .string(""), "may not be specified when `value` is not empty"))
                }
                if let ref = from.configMapKeyRef, ref.key.isEmpty { errors.append(.required("\(ep).valueFrom.configMapKeyRef.key")) }
                if let ref = from.secretKeyRef, ref.key.isEmpty { errors.append(.required("\(ep).valueFrom.secretKeyRef.key")) }
                if let ref = from.fieldRef, ref.fieldPath.isEmpty { errors.append(.required("\(ep).valueFrom.fieldRef.fieldPath")) }
            }
        }
        var mountPaths = Set<String>()
        for (i, m) in (c.volumeMounts ?? []).enumerated() {
            let mp = "\(cp).volumeMounts[\(i)]"
            if m.name.isEmpty { errors.append(.required("\(mp).name")) }
            else if !volumes.contains(m.name) { errors.append(FieldError(.notFound, "\(mp).name", .string(m.name))) }
            if m.mountPath.isEmpty { errors.append(.required("\(mp).mountPath")) }
            else if mountPaths.contains(m.mountPath) { errors.append(.invalid("\(mp).mountPath", .string(m.mountPath), "must be unique")) }
            mountPaths.insert(m.mountPath)
        }
        if let probe = c.livenessProbe { self.probe(probe, path: "\(cp).livenessProbe", mustSucceedOnce: true) }
        if let probe = c.readinessProbe { self.probe(probe, path: "\(cp).readinessProbe", mustSucceedOnce: false) }
        if let probe = c.startupProbe { self.probe(probe, path: "\(cp).startupProbe", mustSucceedOnce: true) }
        if isInit {
            if c.livenessProbe != nil { errors.append(.forbidden("\(cp).livenessProbe", "may not be set for init containers without restartPolicy=Always")) }
            if c.readinessProbe != nil { errors.append(.forbidden("\(cp).readinessProbe", "may not be set for init containers without restartPolicy=Always")) }
        }
        if let r = c.resources { resources(r, path: "\(cp).resources") }
    }

    mutating func probe(_ probe: Probe, path pp: String, mustSucceedOnce: Bool) {
        let handlers = [probe.exec != nil, probe.httpGet != nil, probe.tcpSocket != nil].filter { $0 }.count
        if handlers == 0 { errors.append(.required(pp, "must specify a handler type")) }
        else if handlers > 1 {
            let second = probe.exec != nil ? (probe.httpGet != nil ? "httpGet" : "tcpSocket") : "tcpSocket"
            errors.append(.forbidden("\(pp).\(second)", "may not specify more than 1 handler type"))
        }
        nonNegative(probe.initialDelaySeconds.map(Int64.init), "\(pp).initialDelaySeconds")
        nonNegative(probe.timeoutSeconds.map(Int64.init), "\(pp).timeoutSeconds")
        nonNegative(probe.periodSeconds.map(Int64.init), "\(pp).periodSeconds")
        nonNegative(probe.successThreshold.map(Int64.init), "\(pp).successThreshold")
        nonNegative(probe.failureThreshold.map(Int64.init), "\(pp).failureThreshold")
        if mustSucceedOnce, let s = probe.successThreshold, s != 1 {
            errors.append(.invalid("\(pp).successThreshold", .int(Int64(s)), "must be 1"))
        }
        if let e = probe.exec, (e.command ?? []).isEmpty { errors.append(.required("\(pp).exec.command")) }
        if let h = probe.httpGet {
            if case .int(let port) = h.port { portNumber(port, "\(pp).httpGet.port") }
            if let scheme = h.scheme, !["HTTP", "HTTPS"].contains(scheme) {
                errors.append(.notSupported("\(pp).httpGet.scheme", scheme, ["HTTP", "HTTPS"]))
            }
        }
        if let t = probe.tcpSocket, case .int(let port) = t.port { portNumber(port, "\(pp).tcpSocket.port") }
    }

    mutating func resources(_ r: ResourceRequirements, path rp: String) {
        for (key, q) in (r.limits ?? [:]).sorted(by: { $0.key < $1.key }) where q.nanos < 0 {
            errors.append(.invalid("\(rp).limits[\(key)]", .string(q.description), "must be greater than or equal to 0"))
        }
        for (key, q) in (r.requests ?? [:]).sorted(by: { $0.key < $1.key }) {
            if q.nanos < 0 {
                errors.append(.invalid("\(rp).requests[\(key)]", .string(q.description), "must be greater than or equal to 0"))
            }
            if let limit = r.limits?[key], q > limit {
                errors.append(.invalid("\(rp).requests", .string(q.description), "must be less than or equal to \(key) limit of \(limit.description)"))
            }
        }
    }

    mutating func toleration(_ t: Toleration, path tp: String) {
        let key = t.key ?? ""
        if !key.isEmpty {
            for m in NameValidation.qualifiedName(key) { errors.append(.invalid("\(tp).key", .string(key), m)) }
        }
        let op = t.operator ?? ""
        if key.isEmpty && op != "Exists" {
            errors.append(.invalid("\(tp).operator", .string(op), "operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
        }
        if let ts = t.tolerationSeconds, t.effect != "NoExecute" {
            _ = ts
            errors.append(.invalid("\(tp).effect", .string(t.effect ?? ""), "effect must be 'NoExecute' when `tolerationSeconds` is set"))
        }
        switch op {
        case "", "Equal":
            for m in NameValidation.labelValue(t.value ?? "") { errors.append(.invalid("\(tp).operator", .string(t.value ?? ""), m)) }
        case "Exists":
            if !(t.value ?? "").isEmpty {
                errors.append(.invalid("\(tp).operator", .raw("core.Toleration{Key:\(goQuote(key)), Operator:\"Exists\", Value:\(goQuote(t.value ?? "")), Effect:\(goQuote(t.effect ?? "")), TolerationSeconds:(*int64)(nil)}"),
                                       "value must be empty when `operator` is 'Exists'"))
            }
        default:
            errors.append(.notSupported("\(tp).operator", op, ["Equal", "Exists"]))
        }
        if let effect = t.effect, !effect.isEmpty, !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(effect) {
            errors.append(.notSupported("\(tp).effect", effect, ["NoExecute", "NoSchedule", "PreferNoSchedule"]))
        }
    }

    mutating func taint(_ t: Taint, path tp: String) {
        if t.key.isEmpty { errors.append(.required("\(tp).key")) }
        else { for m in NameValidation.qualifiedName(t.key) { errors.append(.invalid("\(tp).key", .string(t.key), m)) } }
        for m in NameValidation.labelValue(t.value ?? "") { errors.append(.invalid("\(tp).value", .string(t.value ?? ""), m)) }
        if !["NoSchedule", "PreferNoSchedule", "NoExecute"].contains(t.effect) {
            if t.effect.isEmpty { errors.append(.required("\(tp).effect")) }
            else { errors.append(.notSupported("\(tp).effect", t.effect, ["NoExecute", "NoSchedule", "PreferNoSchedule"])) }
        }
    }

    mutating func nodeSelectorRequirement(_ r: NodeSelectorRequirement, path rp: String, isField: Bool) {
        let values = r.values ?? []
        switch r.operator {
        case "In", "NotIn":
            if values.isEmpty { errors.append(.required("\(rp).values", "must be specified when `operator` is 'In' or 'NotIn'")) }
        case "Exists", "DoesNotExist":
            if !values.isEmpty { errors.append(.forbidden("\(rp).values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")) }
        case "Gt", "Lt":
            if values.count != 1 { errors.append(.required("\(rp).values", "must be specified single value when `operator` is 'Lt' or 'Gt'")) }
        default:
            errors.append(.invalid("\(rp).operator", .string(r.operator), "not a valid selector operator"))
        }
        if isField {
            if r.key != "metadata.name" { errors.append(.invalid("\(rp).key", .string(r.key), "not a valid field selector key")) }
        } else {
            for m in NameValidation.qualifiedName(r.key) { errors.append(.invalid("\(rp).key", .string(r.key), m)) }
        }
    }

    mutating func nodeSelectorTerm(_ term: NodeSelectorTerm, path tp: String) {
        for (i, r) in (term.matchExpressions ?? []).enumerated() { nodeSelectorRequirement(r, path: "\(tp).matchExpressions[\(i)]", isField: false) }
        for (i, r) in (term.matchFields ?? []).enumerated() { nodeSelectorRequirement(r, path: "\(tp).matchFields[\(i)]", isField: true) }
    }

    mutating func affinity(_ a: Affinity, path ap: String) {
        if let na = a.nodeAffinity {
            let np = "\(ap).nodeAffinity"
            if let req = na.requiredDuringSchedulingIgnoredDuringExecution {
                let rp = "\(np).requiredDuringSchedulingIgnoredDuringExecution"
                if req.nodeSelectorTerms.isEmpty { errors.append(.required("\(rp).nodeSelectorTerms", "must have at least one node selector term")) }
                for (i, t) in req.nodeSelectorTerms.enumerated() { nodeSelectorTerm(t, path: "\(rp).nodeSelectorTerms[\(i)]") }
            }
            for (i, t) in (na.preferredDuringSchedulingIgnoredDuringExecution ?? []).enumerated() {
                let pp = "\(np).preferredDuringSchedulingIgnoredDuringExecution[\(i)]"
                if t.weight < 1 || t.weight > 100 { errors.append(.invalid("\(pp).weight", .int(Int64(t.weight)), "must be in the range 1-100")) }
                nodeSelectorTerm(t.preference, path: "\(pp).preference")
            }
        }
        for (name, pa) in [("podAffinity", a.podAffinity), ("podAntiAffinity", a.podAntiAffinity)] {
            guard let pa else { continue }
            let pp = "\(ap).\(name)"
            for (i, t) in (pa.requiredDuringSchedulingIgnoredDuringExecution ?? []).enumerated() {
                podAffinityTerm(t, path: "\(pp).requiredDuringSchedulingIgnoredDuringExecution[\(i)]")
            }
            for (i, w) in (pa.preferredDuringSchedulingIgnoredDuringExecution ?? []).enumerated() {
                let wp = "\(pp).preferredDuringSchedulingIgnoredDuringExecution[\(i)]"
                if w.weight < 1 || w.weight > 100 { errors.append(.invalid("\(wp).weight", .int(Int64(w.weight)), "must be in the range 1-100")) }
                podAffinityTerm(w.podAffinityTerm, path: "\(wp).podAffinityTerm")
            }
        }
    }

    mutating func podAffinityTerm(_ t: PodAffinityTerm, path tp: String) {
        if t.topologyKey.isEmpty { errors.append(.required("\(tp).topologyKey", "can not be empty")) }
        else { for m in NameValidation.qualifiedName(t.topologyKey) { errors.append(.invalid("\(tp).topologyKey", .string(t.topologyKey), m)) } }
        if let s = t.labelSelector { labelSelector(s, path: "\(tp).labelSelector") }
    }

    mutating func labelSelector(_ s: LabelSelector, path sp: String) {
        if let ml = s.matchLabels { errors += NameValidation.validateLabels(ml, path: "\(sp).matchLabels") }
        for (i, r) in (s.matchExpressions ?? []).enumerated() {
            let rp = "\(sp).matchExpressions[\(i)]"
            let values = r.values ?? []
            switch r.operator {
            case "In", "NotIn":
                if values.isEmpty { errors.append(.required("\(rp).values", "must be specified when `operator` is 'In' or 'NotIn'")) }
            case "Exists", "DoesNotExist":
                if !values.isEmpty { errors.append(.forbidden("\(rp).values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")) }
            default:
                errors.append(.invalid("\(rp).operator", .string(r.operator), "not a valid selector operator"))
            }
            for m in NameValidation.qualifiedName(r.key) { errors.append(.invalid("\(rp).key", .string(r.key), m)) }
        }
    }

    // MARK: workloads

    /// Selector present, non-empty, valid, and matching the template's labels; then the template's pod spec.
    mutating func selectorAndTemplate(_ selector: LabelSelector?, _ template: PodTemplateSpec?, json: JSONValue?, kindWord: String,
                                      allowedRestart: [String], selectorRequired: Bool = true) {
        if let selector {
            labelSelector(selector, path: "spec.selector")
            let empty = (selector.matchLabels ?? [:]).isEmpty && (selector.matchExpressions ?? []).isEmpty
            if empty {
                errors.append(.invalid("spec.selector", .raw(goLabelSelector(selector)), "empty selector is invalid for \(kindWord)"))
            } else if let template {
                let labels = template.metadata?.labels ?? [:]
                if let parsed = try? LabelSelectorMatcher(selector), !parsed.matches(labels) {
                    errors.append(.invalid("spec.template.metadata.labels", .raw(goMapLiteral(labels)), "`selector` does not match template `labels`"))
                }
            }
        } else if selectorRequired {
            errors.append(.required("spec.selector"))
        }
        guard let template else {
            errors.append(.required("spec.template"))
            return
        }
        if let labels = template.metadata?.labels { errors += NameValidation.validateLabels(labels, path: "spec.template.metadata.labels") }
        if let annotations = template.metadata?.annotations {
            errors += NameValidation.validateAnnotations(annotations, path: "spec.template.metadata.annotations")
        }
        podSpec(template.spec, json: json?["template"]?["spec"], path: "spec.template.spec", allowedRestart: ["Always", "OnFailure", "Never"])
        if let rp = template.spec?.restartPolicy, !rp.isEmpty, !allowedRestart.contains(rp),
           ["Always", "OnFailure", "Never"].contains(rp) {
            errors.append(.notSupported("spec.template.spec.restartPolicy", rp, allowedRestart))
        }
    }

    mutating func deploymentSpec(_ spec: DeploymentSpec, json: JSONValue?) {
        nonNegative(spec.replicas.map(Int64.init), "spec.replicas")
        selectorAndTemplate(spec.selector, spec.template, json: json, kindWord: "deployment", allowedRestart: ["Always"])
        if let strategy = spec.strategy {
            let type = strategy.type ?? ""
            switch type {
            case "Recreate":
                if strategy.rollingUpdate != nil {
                    errors.append(.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
                }
            case "RollingUpdate":
                if let ru = strategy.rollingUpdate {
                    rollingParameters(surge: ru.maxSurge, unavailable: ru.maxUnavailable, path: "spec.strategy.rollingUpdate")
                }
            case "":
                errors.append(.required("spec.strategy.type"))
            default:
                errors.append(.notSupported("spec.strategy.type", type, ["Recreate", "RollingUpdate"]))
            }
        }
        nonNegative(spec.minReadySeconds.map(Int64.init), "spec.minReadySeconds")
        nonNegative(spec.revisionHistoryLimit.map(Int64.init), "spec.revisionHistoryLimit")
        if let pds = spec.progressDeadlineSeconds {
            nonNegative(Int64(pds), "spec.progressDeadlineSeconds")
            if pds <= (spec.minReadySeconds ?? 0) {
                errors.append(.invalid("spec.progressDeadlineSeconds", .int(Int64(pds)), "must be greater than minReadySeconds"))
            }
        }
    }

    static func goIntOrString(_ v: IntOrString) -> String {
        switch v {
        case .int(let i): return "intstr.IntOrString{Type:0, IntVal:\(i), StrVal:\"\"}"
        case .string(let s): return "intstr.IntOrString{Type:1, IntVal:0, StrVal:\(goQuote(s))}"
        }
    }

    static let percentMessage = NameValidation.regexError("a valid percent string must be a numeric string followed by an ending '%'", "[0-9]+%", ["1%", "93%"])

    /// Validates one int-or-percent; returns whether it is zero.
    mutating func intOrPercent(_ v: IntOrString, path: String, maxPercent: Bool) -> Bool {
        switch v {
        case .int(let i):
            if i < 0 { errors.append(.invalid(path, .int(Int64(i)), "must be greater than or equal to 0")) }
            return i == 0
        case .string(let s):
            guard let p = v.percent, s.dropLast().allSatisfy(\.isNumber), !s.dropLast().isEmpty else {
                errors.append(.invalid(path, .string(s), Validator.percentMessage))
                return false
            }
            if maxPercent && p > 100 { errors.append(.invalid(path, .string(s), "must not be greater than 100%")) }
            return p == 0
        }
    }

    mutating func rollingParameters(surge: IntOrString?, unavailable: IntOrString?, path: String) {
        let surgeZero = surge.map { intOrPercent($0, path: "\(path).maxSurge", maxPercent: false) } ?? false
        let unavailableZero = unavailable.map { intOrPercent($0, path: "\(path).maxUnavailable", maxPercent: true) } ?? false
        if surgeZero && unavailableZero, let unavailable {
            errors.append(.invalid("\(path).maxUnavailable", .raw(Validator.goIntOrString(unavailable)), "may not be 0 when `maxSurge` is 0"))
        }
    }

    mutating func daemonSetSpec(_ spec: DaemonSetSpec, json: JSONValue?) {
        selectorAndTemplate(spec.selector, spec.template, json: json, kindWord: "daemonset", allowedRestart: ["Always"])
        nonNegative(spec.minReadySeconds.map(Int64.init), "spec.minReadySeconds")
        nonNegative(spec.revisionHistoryLimit.map(Int64.init), "spec.revisionHistoryLimit")
        if let us = spec.updateStrategy {
            let type = us.type ?? ""
            switch type {
            case "OnDelete": break
            case "RollingUpdate":
                if let ru = us.rollingUpdate {
                    rollingParameters(surge: ru.maxSurge, unavailable: ru.maxUnavailable, path: "spec.updateStrategy.rollingUpdate")
                }
            case "": errors.append(.required("spec.updateStrategy.type"))
            default: errors.append(.notSupported("spec.updateStrategy.type", type, ["OnDelete", "RollingUpdate"]))
            }
        }
    }

    mutating func jobSpec(_ spec: JobSpec, json: JSONValue?) {
        nonNegative(spec.parallelism.map(Int64.init), "spec.parallelism")
        nonNegative(spec.completions.map(Int64.init), "spec.completions")
        nonNegative(spec.backoffLimit.map(Int64.init), "spec.backoffLimit")
        nonNegative(spec.ttlSecondsAfterFinished.map(Int64.init), "spec.ttlSecondsAfterFinished")
        if let a = spec.activeDeadlineSeconds, a <= 0 { errors.append(.invalid("spec.activeDeadlineSeconds", .int(a), "must be greater than or equal to 0")) }
        if let mode = spec.completionMode, !["NonIndexed", "Indexed"].contains(mode) {
            errors.append(.notSupported("spec.completionMode", mode, ["NonIndexed", "Indexed"]))
        }
        // The job controller generates the selector unless manualSelector is set.
        selectorAndTemplate(spec.selector, spec.template, json: json, kindWord: "job", allowedRestart: ["OnFailure", "Never"], selectorRequired: spec.manualSelector == true)
        if spec.template?.spec != nil, (spec.template?.spec?.restartPolicy ?? "").isEmpty {
            errors.append(.required("spec.template.spec.restartPolicy", "valid values: \"OnFailure\", \"Never\""))
        }
    }

    // MARK: services and data

    mutating func serviceSpec(_ spec: ServiceSpec) {
        let type = spec.type ?? "ClusterIP"
        let types = ["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"]
        if !types.contains(type) { errors.append(.notSupported("spec.type", type, types)) }
        let ports = spec.ports ?? []
        if ports.isEmpty && type != "ExternalName" && spec.clusterIP != "None" { errors.append(.required("spec.ports")) }
        var names = Set<String>()
        var seen = Set<String>()
        for (i, port) in ports.enumerated() {
            let pp = "spec.ports[\(i)]"
            let name = port.name ?? ""
            if ports.count > 1 && name.isEmpty { errors.append(.required("\(pp).name")) }
            if !name.isEmpty {
                for m in NameValidation.dns1123Label(name) { errors.append(.invalid("\(pp).name", .string(name), m)) }
                if names.contains(name) { errors.append(.duplicate("\(pp).name", .string(name))) }
                names.insert(name)
            }
            portNumber(port.port, "\(pp).port")
            protocolValue(port.protocol, "\(pp).protocol")
            let key = "\(port.port)/\(port.protocol ?? "TCP")"
            if seen.contains(key) {
                errors.append(.duplicate(pp, .raw("core.ServicePort{Name:\(goQuote(name)), Protocol:\(goQuote(port.protocol ?? "TCP")), Port:\(port.port)}")))
            }
            seen.insert(key)
            switch port.targetPort {
            case .int(let t)?: if t != 0 { portNumber(t, "\(pp).targetPort") }
            case .string(let s)?: portName(s, "\(pp).targetPort")
            case nil: break
            }
            if let np = port.nodePort, np != 0 {
                if type == "ClusterIP" { errors.append(.forbidden("\(pp).nodePort", "may not be used when `type` is 'ClusterIP'")) }
                portNumber(np, "\(pp).nodePort")
            }
        }
        if let selector = spec.selector { errors += NameValidation.validateLabels(selector, path: "spec.selector") }
        if let ip = spec.clusterIP, !ip.isEmpty, ip != "None", !isIPAddress(ip) {
            errors.append(.invalid("spec.clusterIPs[0]", .string(ip), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
        }
    }

    static let configKeyMessage = NameValidation.regexError(
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.'", "[-._a-zA-Z0-9]+", ["key.name", "KEY_NAME", "key-name"])

    mutating func configKey(_ key: String, path: String) {
        if key.isEmpty || !key.utf8.allSatisfy({ NameValidation.isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }) {
            errors.append(.invalid(path, .string(key), Validator.configKeyMessage))
        }
        if key.utf8.count > 253 { errors.append(.invalid(path, .string(key), "must be no more than 253 characters")) }
        if key == "." || key == ".." { errors.append(.invalid(path, .string(key), "must not be '\(key)'")) }
        else if key.hasPrefix("..") { errors.append(.invalid(path, .string(key), "must not start with '..'")) }
    }

    mutating func configData(data: [String: String]?, binary: [String: String]?, dataField: String, binaryField: String, base64Binary: Bool) {
        var total = 0
        for key in (data ?? [:]).keys.sorted() {
            configKey(key, path: "\(dataField)[\(key)]")
            total += data?[key]?.utf8.count ?? 0
            if binary?[key] != nil {
                errors.append(.invalid("\(dataField)[\(key)]", .string(key), "duplicate of key present in \(binaryField)"))
            }
        }
        for key in (binary ?? [:]).keys.sorted() {
            configKey(key, path: "\(binaryField)[\(key)]")
            total += ((binary?[key]?.utf8.count ?? 0) * 3) / 4
        }
        if base64Binary { base64Values(binary, field: binaryField) }
        if total > 1024 * 1024 { errors.append(.tooLong(dataField, "must have at most 1048576 bytes")) }
    }

    mutating func base64Values(_ values: [String: String]?, field: String) {
        for key in (values ?? [:]).keys.sorted() {
            if let bad = invalidBase64Offset(values?[key] ?? "") {
                errors.append(.invalid("\(field)[\(key)]", .none, "illegal base64 data at input byte \(bad)"))
            }
        }
    }

    mutating func endpoints(_ ep: Endpoints) {
        for (i, subset) in (ep.subsets ?? []).enumerated() {
            let sp = "subsets[\(i)]"
            for (j, a) in (subset.addresses ?? []).enumerated() where !isIPAddress(a.ip) {
                errors.append(.invalid("\(sp).addresses[\(j)].ip", .string(a.ip), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"))
            }
            for (j, p) in (subset.ports ?? []).enumerated() {
                portNumber(p.port, "\(sp).ports[\(j)].port")
                protocolValue(p.protocol, "\(sp).ports[\(j)].protocol")
            }
        }
    }
}

/// Go's `%#v` of a `*metav1.LabelSelector` is unreadable; this shortened form is what we print instead.
func goLabelSelector(_ s: LabelSelector) -> String {
    "&v1.LabelSelector{MatchLabels:\(goMapLiteral(s.matchLabels ?? [:])), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}"
}

/// The byte offset of the first invalid base64 character (standard alphabet, padded), or nil if valid.
func invalidBase64Offset(_ s: String) -> Int? {
    let u = Array(s.utf8)
    var padding = 0
    for (i, b) in u.enumerated() {
        let isAlphabet = NameValidation.isAlnum(b) || b == UInt8(ascii: "+") || b == UInt8(ascii: "/")
        if b == UInt8(ascii: "=") {
            padding += 1
            if padding > 2 || i < u.count - 2 && u[i + 1] != UInt8(ascii: "=") { return i }
        } else if !isAlphabet || padding > 0 {
            return i
        }
    }
    if u.count % 4 != 0 { return (u.count / 4) * 4 }
    return nil
}

func isIPAddress(_ s: String) -> Bool {
    let parts = s.split(separator: ".", omittingEmptySubsequences: false)
    if parts.count == 4 {
        return parts.allSatisfy { p in
            guard !p.isEmpty, p.count <= 3, p.allSatisfy(\.isASCII), p.allSatisfy(\.isNumber), let v = Int(p) else { return false }
            return v <= 255 && (p.count == 1 || p.first != "0")
        }
    }
    guard s.contains(":"), s.utf8.count <= 45 else { return false }
    let groups = s.split(separator: "::", omittingEmptySubsequences: false)
    guard groups.count <= 2 else { return false }
    var count = 0
    for g in groups where !g.isEmpty {
        for h in g.split(separator: ":", omittingEmptySubsequences: false) {
            if h.contains(".") { count += 2; continue }
            guard !h.isEmpty, h.count <= 4, h.allSatisfy(\.isHexDigit) else { return false }
            count += 1
        }
    }
    return groups.count == 2 ? count < 8 : count == 8
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}

