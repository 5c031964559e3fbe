/// Server-side printing: `Table` (meta.k8s.io/v1) documents with the columns kubectl shows.
/// Pure: "now" is passed in for the AGE column.
public enum Tables {
    public enum IncludeObject: String, Sendable {
        case none = "None"
        /// `PartialObjectMetadata` (the default; kubectl needs it for `-A` and `--show-labels`).
        case metadata = "Metadata"
        case object = "Object"
    }

    public struct Column: Sendable, Equatable {
        public var name: String
        public var type: String
        public var format: String
        public var priority: Int
        public init(_ name: String, _ type: String = "string", format: String = "", priority: Int = 0) {
            self.name = name; self.type = type; self.format = format; self.priority = priority
        }
        public var json: JSONValue {
            .object(JSONObject([("name", .string(name)), ("type", .string(type)), ("format", .string(format)),
                                ("description", ""), ("priority", .int(Int64(priority)))]))
        }
    }

    static let name = Column("Name", format: "name")
    static let age = Column("Age")

    public static func columns(for kind: String) -> [Column] {
        switch kind {
        case "Pod":
            return [name, Column("Ready"), Column("Status"), Column("Restarts"), age,
                    Column("IP", priority: 1), Column("Node", priority: 1), Column("Nominated Node", priority: 1), Column("Readiness Gates", priority: 1)]
        case "Deployment":
            return [name, Column("Ready"), Column("Up-to-date", "integer"), Column("Available", "integer"), age,
                    Column("Containers", priority: 1), Column("Images", priority: 1), Column("Selector", priority: 1)]
        case "ReplicaSet":
            return [name, Column("Desired", "integer"), Column("Current", "integer"), Column("Ready", "integer"), age,
                    Column("Containers", priority: 1), Column("Images", priority: 1), Column("Selector", priority: 1)]
        case "DaemonSet":
            return [name, Column("Desired", "integer"), Column("Current", "integer"), Column("Ready", "integer"),
                    Column("Up-to-date", "integer"), Column("Available", "integer"), Column("Node Selector"), age,
                    Column("Containers", priority: 1), Column("Images", priority: 1), Column("Selector", priority: 1)]
        case "Job":
            return [name, Column("Status"), Column("Completions"), Column("Duration"), age,
                    Column("Containers", priority: 1), Column("Images", priority: 1), Column("Selector", priority: 1)]
        case "Service":
            return [name, Column("Type"), Column("Cluster-IP"), Column("External-IP"), Column("Port(s)"), age, Column("Selector", priority: 1)]
        case "Endpoints": return [name, Column("Endpoints"), age]
        case "ConfigMap": return [name, Column("Data", "integer"), age]
        case "Secret": return [name, Column("Type"), Column("Data", "integer"), age]
        case "Namespace": return [name, Column("Status"), age]
        case "Node":
            return [name, Column("Status"), Column("Roles"), age, Column("Version"),
                    Column("Internal-IP", priority: 1), Column("External-IP", priority: 1), Column("OS-Image", priority: 1),
                    Column("Kernel-Version", priority: 1), Column("Container-Runtime", priority: 1)]
        case "Event":
            return [Column("Last Seen"), Column("Type"), Column("Reason"), Column("Object"), Column("Message"),
                    Column("Subobject", priority: 1), Column("Source", priority: 1), Column("First Seen", priority: 1),
                    Column("Count", "integer", priority: 1), Column("Name", priority: 1)]
        default: return [name, age]
        }
    }

    /// Builds the Table for a list (or a single object, or one watch event) of objects of one kind.
    public static func table(kind: String, objects: [JSONValue], nowEpochSeconds: Int64, resourceVersion: String?,
                             includeObject: IncludeObject = .metadata, includeColumnDefinitions: Bool = true) -> JSONValue {
        var meta = JSONObject()
        if let resourceVersion { meta["resourceVersion"] = .string(resourceVersion) }
        let rows: [JSONValue] = objects.map { obj in
            var row = JSONObject()
            row["cells"] = .array(cells(kind: kind, object: obj, now: nowEpochSeconds))
            switch includeObject {
            case .none: break
            case .object: row["object"] = obj
            case .metadata:
                row["object"] = .object(JSONObject([
                    ("kind", "PartialObjectMetadata"), ("apiVersion", "meta.k8s.io/v1"), ("metadata", obj["metadata"] ?? .object(JSONObject())),
                ]))
            }
            return .object(row)
        }
        return .object(JSONObject([
            ("kind", "Table"), ("apiVersion", "meta.k8s.io/v1"), ("metadata", .object(meta)),
            ("columnDefinitions", .array(includeColumnDefinitions ? columns(for: kind).map(\.json) : [])),
            ("rows", .array(rows)),
        ]))
    }

    static func age(_ timestamp: JSONValue?, now: Int64) -> String {
        guard let t = timestamp?.stringValue, let epoch = Timestamp.parse(t) else { return "<unknown>" }
        return Timestamp.humanDuration(seconds: now - epoch)
    }

    static func int(_ v: JSONValue?) -> Int64 { v?.intValue ?? 0 }
    static func str(_ v: JSONValue?, _ fallback: String = "<none>") -> String {
        guard let s = v?.stringValue, !s.isEmpty else { return fallback }
        return s
    }

    /// The cells of one row; public so watch streams can reuse it.
    public static func cells(kind: String, object o: JSONValue, now: Int64) -> [JSONValue] {
        let name = JSONValue.string(o["metadata"]?["name"]?.stringValue ?? "")
        let ageCell = JSONValue.string(age(o["metadata"]?["creationTimestamp"], now: now))
        switch kind {
        case "Pod": return podCells(o, name: name, age: ageCell, now: now)
        case "Deployment":
            let spec = o["spec"], status = o["status"]
            return [name, .string("\(int(status?["readyReplicas"]))/\(int(spec?["replicas"]))"),
                    .int(int(status?["updatedReplicas"])), .int(int(status?["availableReplicas"])), ageCell] + workloadWide(o)
        case "ReplicaSet":
            let status = o["status"]
            return [name, .int(int(o["spec"]?["replicas"])), .int(int(status?["replicas"])), .int(int(status?["readyReplicas"])), ageCell]
                + workloadWide(o)
        case "DaemonSet":
            let s = o["status"]
            let nodeSelector = (o["spec"]?["template"]?["spec"]?["nodeSelector"]?.objectValue).map(labelString) ?? ""
            return [name, .int(int(s?["desiredNumberScheduled"])), .int(int(s?["currentNumberScheduled"])), .int(int(s?["numberReady"])),
                    .int(int(s?["updatedNumberScheduled"])), .int(int(s?["numberAvailable"])),
                    .string(nodeSelector.isEmpty ? "<none>" : nodeSelector), ageCell] + workloadWide(o)
        case "Job": return jobCells(o, name: name, age: ageCell, now: now)
        case "Service": return serviceCells(o, name: name, age: ageCell)
        case "Endpoints": return [name, .string(endpointsString(o)), ageCell]
        case "ConfigMap":
            return [name, .int(Int64((o["data"]?.objectValue?.count ?? 0) + (o["binaryData"]?.objectValue?.count ?? 0))), ageCell]
        case "Secret":
            return [name, .string(o["type"]?.stringValue ?? ""), .int(Int64(o["data"]?.objectValue?.count ?? 0)), ageCell]
        case "Namespace": return [name, .string(o["status"]?["phase"]?.stringValue ?? ""), ageCell]
        case "Node": return nodeCells(o, name: name, age: ageCell)
        case "Event": return eventCells(o, now: now)
        default: return [name, ageCell]
        }
    }

    static func workloadWide(_ o: JSONValue) -> [JSONValue] {
        let containers = o["spec"]?["template"]?["spec"]?["containers"]?.arrayValue ?? []
        let names = containers.compactMap { $0["name"]?.stringValue }.joined(separator: ",")
        let images = containers.compactMap { $0["image"]?.stringValue }.joined(separator: ",")
        var selector = "<none>"
        if let s = o["spec"]?["selector"], let ls: LabelSelector = try? s.decode(), let m = try? LabelSelectorMatcher(ls) {
            selector = m.description.isEmpty ? "<none>" : m.description
        }
        return [.string(names), .string(images), .string(selector)]
    }

    static func labelString(_ o: JSONObject) -> String {
        o.keys.sorted().map { "\($0)=\(o[$0]?.stringValue ?? "")" }.joined(separator: ",")
    }

    static func podCells(_ o: JSONValue, name: JSONValue, age: JSONValue, now: Int64) -> [JSONValue] {
        let status = o["status"]
        let containers = o["spec"]?["containers"]?.arrayValue ?? []
        let statuses = status?["containerStatuses"]?.arrayValue ?? []
        var restarts: Int64 = 0
        var lastRestart: Int64?
        var ready = 0
        var reason = str(status?["phase"], "")
        if let r = status?["reason"]?.stringValue, !r.isEmpty { reason = r }

        var initializing = false
        let initStatuses = status?["initContainerStatuses"]?.arrayValue ?? []
        let initCount = o["spec"]?["initContainers"]?.arrayValue?.count ?? 0
        for (i, cs) in initStatuses.enumerated() {
            restarts += int(cs["restartCount"])
            if let t = cs["state"]?["terminated"], int(t["exitCode"]) == 0 { continue }
            if let t = cs["state"]?["terminated"] {
                if let r = t["reason"]?.stringValue, !r.isEmpty { reason = "Init:" + r }
                else if let sig = t["signal"]?.intValue, sig != 0 { reason = "Init:Signal:\(sig)" }
                else { reason = "Init:ExitCode:\(int(t["exitCode"]))" }
            } else if let w = cs["state"]?["waiting"]?["reason"]?.stringValue, !w.isEmpty, w != "PodInitializing" {
                reason = "Init:" + w
            } else {
                reason = "Init:\(i)/\(initCount)"
            }
            initializing = true
            break
        }
        if !initializing {
            var hasRunning = false
            for cs in statuses.reversed() {
                restarts += int(cs["restartCount"])
                if let finished = cs["lastState"]?["terminated"]?["finishedAt"]?.stringValue.flatMap(Timestamp.parse) {
                    lastRestart = max(lastRestart ?? finished, finished)
                }
                if let w = cs["state"]?["waiting"]?["reason"]?.stringValue, !w.isEmpty {
                    reason = w
                } else if let t = cs["state"]?["terminated"] {
                    if let r = t["reason"]?.stringValue, !r.isEmpty { reason = r }
                    else if let sig = t["signal"]?.intValue, sig != 0 { reason = "Signal:\(sig)" }
                    else { reason = "ExitCode:\(int(t["exitCode"]))" }
                } else if cs["ready"] == true && cs["state"]?["running"] != nil {
                    hasRunning = true
                    ready += 1
                }
            }
            if reason == "Completed" && hasRunning {
                let readyCondition = status?["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }
                reason = readyCondition?["status"] == "True" ? "Running" : "NotReady"
            }
        }
        if o["metadata"]?["deletionTimestamp"]?.stringValue != nil {
            reason = status?["reason"] == "NodeLost" ? "Unknown" : "Terminating"
        }
        var restartText = String(restarts)
        if let lastRestart, restarts > 0 { restartText += " (\(Timestamp.humanDuration(seconds: now - lastRestart)) ago)" }
        let gates = o["spec"]?["readinessGates"]?.arrayValue ?? []
        var gatesText = "<none>"
        if !gates.isEmpty {
            let conditions = status?["conditions"]?.arrayValue ?? []
            let passed = gates.filter { g in conditions.contains { $0["type"] == g["conditionType"] && $0["status"] == "True" } }.count
            gatesText = "\(passed)/\(gates.count)"
        }
        return [name, .string("\(ready)/\(containers.count)"), .string(reason), .string(restartText), age,
                .string(str(status?["podIP"])), .string(str(o["spec"]?["nodeName"])), .string(str(status?["nominatedNodeName"])), .string(gatesText)]
    }

    static func jobCells(_ o: JSONValue, name: JSONValue, age: JSONValue, now: Int64) -> [JSONValue] {
        let spec = o["spec"], status = o["status"]
        let conditions = status?["conditions"]?.arrayValue ?? []
        func has(_ type: String) -> Bool { conditions.contains { $0["type"]?.stringValue == type && $0["status"] == "True" } }
        let state: String
        if has("Complete") { state = "Complete" }
        else if has("Failed") { state = "Failed" }
        else if has("FailureTarget") || has("SuccessCriteriaMet") { state = has("FailureTarget") ? "FailureTarget" : "SuccessCriteriaMet" }
        else if spec?["suspend"] == true { state = "Suspended" }
        else { state = "Running" }
        let completions: String
        if let c = spec?["completions"]?.intValue {
            completions = "\(int(status?["succeeded"]))/\(c)"
        } else {
            let parallelism = spec?["parallelism"]?.intValue ?? 1
            completions = parallelism > 1 ? "\(int(status?["succeeded"]))/1 of \(parallelism)" : "\(int(status?["succeeded"]))/1"
        }
        var duration = ""
        if let start = status?["startTime"]?.stringValue.flatMap(Timestamp.parse) {
            let end = status?["completionTime"]?.stringValue.flatMap(Timestamp.parse) ?? now
            duration = Timestamp.humanDuration(seconds: end - start)
        }
        return [name, .string(state), .string(completions), .string(duration), age] + workloadWide(o)
    }

    static func serviceCells(_ o: JSONValue, name: JSONValue, age: JSONValue) -> [JSONValue] {
        let spec = o["spec"]
        let type = spec?["type"]?.stringValue ?? "ClusterIP"
        let clusterIP = str(spec?["clusterIP"])
        var external = (spec?["externalIPs"]?.arrayValue ?? []).compactMap(\.stringValue)
        external += (o["status"]?["loadBalancer"]?["ingress"]?.arrayValue ?? []).compactMap { $0["ip"]?.stringValue ?? $0["hostname"]?.stringValue }
        let externalText: String
        switch type {
        case "ExternalName": externalText = str(spec?["externalName"])
        case "LoadBalancer": externalText = external.isEmpty ? "<pending>" : external.joined(separator: ",")
        default: externalText = external.isEmpty ? "<none>" : external.joined(separator: ",")
        }
        let ports = (spec?["ports"]?.arrayValue ?? []).map { p -> String in
            let proto = p["protocol"]?.stringValue ?? "TCP"
            if let np = p["nodePort"]?.intValue, np != 0 { return "\(int(p["port"])):\(np)/\(proto)" }
            return "\(int(p["port"]))/\(proto)"
        }
        let selector = (spec?["selector"]?.objectValue).map(labelString) ?? ""
        return [name, .string(type), .string(clusterIP), .string(externalText), .string(ports.isEmpty ? "<none>" : ports.joined(separator: ",")),
                age, .string(selector.isEmpty ? "<none>" : selector)]
    }

    static func endpointsString(_ o: JSONValue) -> String {
        var all: [String] = []
        for subset in o["subsets"]?.arrayValue ?? [] {
            let ports = subset["ports"]?.arrayValue ?? []
            for a in subset["addresses"]?.arrayValue ?? [] {
                let ip = a["ip"]?.stringValue ?? ""
                if ports.isEmpty { all.append(ip) }
                for p in ports { all.append("\(ip):\(int(p["port"]))") }
            }
        }
        if all.isEmpty { return "<none>" }
        if all.count > 3 { return all.prefix(3).joined(separator: ",") + " + \(all.count - 3) more..." }
        return all.joined(separator: ",")
    }

    static func nodeCells(_ o: JSONValue, name: JSONValue, age: JSONValue) -> [JSONValue] {
        let status = o["status"]
        let ready = status?["conditions"]?.arrayValue?.first { $0["type"] == "Ready" }
        var state: String
        switch ready?["status"]?.stringValue {
        case "True": state = "Ready"
        case "False": state = "NotReady"
        default: state = "Unknown"
        }
        if o["spec"]?["unschedulable"] == true { state += ",SchedulingDisabled" }
        var roles: [String] = []
        for (k, _) in o["metadata"]?["labels"]?.objectValue ?? JSONObject() {
            if k.hasPrefix("node-role.kubernetes.io/") {
                let role = String(k.dropFirst("node-role.kubernetes.io/".count))
                if !role.isEmpty { roles.append(role) }
            } else if k == "kubernetes.io/role" {
                roles.append(o["metadata"]?["labels"]?[k]?.stringValue ?? "")
            }
        }
        let addresses = status?["addresses"]?.arrayValue ?? []
        func address(_ type: String) -> String { addresses.first { $0["type"]?.stringValue == type }?["address"]?.stringValue ?? "<none>" }
        let info = status?["nodeInfo"]
        return [name, .string(state), .string(roles.isEmpty ? "<none>" : roles.sorted().joined(separator: ",")), age,
                .string(info?["kubeletVersion"]?.stringValue ?? ""), .string(address("InternalIP")), .string(address("ExternalIP")),
                .string(str(info?["osImage"], "<unknown>")), .string(str(info?["kernelVersion"], "<unknown>")),
                .string(str(info?["containerRuntimeVersion"], "<unknown>"))]
    }

    static func eventCells(_ o: JSONValue, now: Int64) -> [JSONValue] {
        let last = o["lastTimestamp"] ?? o["eventTime"] ?? o["metadata"]?["creationTimestamp"]
        let first = o["firstTimestamp"] ?? o["eventTime"] ?? o["metadata"]?["creationTimestamp"]
        let io = o["involvedObject"]
        let object = "\((io?["kind"]?.stringValue ?? "").lowercased())/\(io?["name"]?.stringValue ?? "")"
        var source = o["source"]?["component"]?.stringValue ?? o["reportingComponent"]?.stringValue ?? ""
        if let host = o["source"]?["host"]?.stringValue, !host.isEmpty { source += ", " + host }
        return [.string(age(last, now: now)), .string(o["type"]?.stringValue ?? ""), .string(o["reason"]?.stringValue ?? ""),
                .string(object), .string(o["message"]?.stringValue ?? ""), .string(io?["fieldPath"]?.stringValue ?? ""),
                .string(source), .string(age(first, now: now)), .int(o["count"]?.intValue ?? 1),
                .string(o["metadata"]?["name"]?.stringValue ?? "")]
    }
}
