#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// kube-apiserver's defaulting, applied to the JSON tree so fields we do not model survive.
/// Only missing fields are filled; values the client set are never changed.
public enum Defaulting {
    public static func apply(_ object: inout JSONValue, as info: ResourceInfo) {
        guard case .object = object else { return }
        if object["apiVersion"] == nil || object["apiVersion"] == .null { object["apiVersion"] = .string(info.groupVersion) }
        if object["kind"] == nil || object["kind"] == .null { object["kind"] = .string(info.kind) }
        switch info.kind {
        case "Pod":
            object.update(["spec"]) { podSpec(&$0) }
        case "Deployment":
            object.update(["spec"]) { spec in
                spec.setDefault("replicas", .int(1))
                spec.update(["strategy"]) { strategy in
                    strategy.setDefault("type", "RollingUpdate")
                    if strategy["type"] == "RollingUpdate" {
                        strategy.update(["rollingUpdate"]) { ru in
                            ru.setDefault("maxUnavailable", "25%")
                            ru.setDefault("maxSurge", "25%")
                        }
                    }
                }
                spec.setDefault("revisionHistoryLimit", .int(10))
                spec.setDefault("progressDeadlineSeconds", .int(600))
                spec.update(["template", "spec"]) { podSpec(&$0) }
            }
        case "ReplicaSet":
            object.update(["spec"]) { spec in
                spec.setDefault("replicas", .int(1))
                spec.update(["template", "spec"]) { podSpec(&$0) }
            }
        case "DaemonSet":
            object.update(["spec"]) { spec in
                spec.update(["updateStrategy"]) { us in
                    us.setDefault("type", "RollingUpdate")
                    if us["type"] == "RollingUpdate" {
                        us.update(["rollingUpdate"]) { ru in
                            ru.setDefault("maxUnavailable", .int(1))
                            ru.setDefault("maxSurge", .int(0))
                        }
                    }
                }
                spec.setDefault("revisionHistoryLimit", .int(10))
                spec.update(["template", "spec"]) { podSpec(&$0) }
            }
        case "Job":
            object.update(["spec"]) { spec in
                spec.setDefault("completions", .int(1))
                spec.setDefault("parallelism", .int(1))
                spec.setDefault("backoffLimit", .int(6))
                spec.setDefault("completionMode", "NonIndexed")
                spec.setDefault("suspend", false)
                spec.update(["template", "spec"]) { podSpec(&$0) }
            }
        case "Service":
            object.update(["spec"]) { spec in
                spec.setDefault("type", "ClusterIP")
                spec.setDefault("sessionAffinity", "None")
                spec.updateEach("ports") { port in
                    port.setDefault("protocol", "TCP")
                    if let p = port["port"] { port.setDefault("targetPort", p) }
                }
            }
        case "Secret":
            object.setDefault("type", "Opaque")
            foldStringData(&object)
        case "Namespace":
            object.update(["spec"]) { $0.setDefault("finalizers", ["kubernetes"]) }
            object.update(["status"]) { $0.setDefault("phase", "Active") }
        default:
            break
        }
    }

    /// `stringData` is write-only: merged into base64 `data` (stringData wins) and removed.
    public static func foldStringData(_ secret: inout JSONValue) {
        guard let stringData = secret["stringData"]?.objectValue else {
            secret["stringData"] = nil
            return
        }
        var data = secret["data"]?.objectValue ?? JSONObject()
        for (k, v) in stringData {
            data[k] = .string(Data((v.stringValue ?? "").utf8).base64EncodedString())
        }
        secret["data"] = .object(data)
        secret["stringData"] = nil
    }

    static func podSpec(_ spec: inout JSONValue) {
        spec.setDefault("restartPolicy", "Always")
        spec.setDefault("terminationGracePeriodSeconds", .int(30))
        spec.setDefault("dnsPolicy", "ClusterFirst")
        spec.setDefault("securityContext", .object(JSONObject()))
        spec.setDefault("schedulerName", "default-scheduler")
        spec.updateEach("initContainers") { container(&$0) }
        spec.updateEach("containers") { container(&$0) }
        spec.updateEach("volumes") { volume in
            for source in ["configMap", "secret"] where volume[source] != nil {
                volume.update([source]) { $0.setDefault("defaultMode", .int(420)) }
            }
        }
    }

    static func container(_ c: inout JSONValue) {
        if c["imagePullPolicy"] == nil || c["imagePullPolicy"] == "" {
            c["imagePullPolicy"] = .string(defaultPullPolicy(image: c["image"]?.stringValue ?? ""))
        }
        c.setDefault("terminationMessagePath", "/dev/termination-log")
        c.setDefault("terminationMessagePolicy", "File")
        c.setDefault("resources", .object(JSONObject()))
        c.updateEach("ports") { $0.setDefault("protocol", "TCP") }
        c.updateEach("env") { env in
            if env["valueFrom"]?["fieldRef"] != nil {
                env.update(["valueFrom", "fieldRef"]) { $0.setDefault("apiVersion", "v1") }
            }
        }
        for probe in ["livenessProbe", "readinessProbe", "startupProbe"] where c[probe]?.objectValue != nil {
            c.update([probe]) { p in
                p.setDefault("timeoutSeconds", .int(1))
                p.setDefault("periodSeconds", .int(10))
                p.setDefault("successThreshold", .int(1))
                p.setDefault("failureThreshold", .int(3))
                if p["httpGet"]?.objectValue != nil {
                    p.update(["httpGet"]) { h in
                        h.setDefault("path", "/")
                        h.setDefault("scheme", "HTTP")
                    }
                }
            }
        }
    }

    /// `Always` for `:latest` or an untagged image, else `IfNotPresent` (a digest counts as a tag).
    public static func defaultPullPolicy(image: String) -> String {
        if image.contains("@") { return "IfNotPresent" }
        let lastComponent = image.split(separator: "/").last.map(String.init) ?? image
        guard let colon = lastComponent.lastIndex(of: ":") else { return "Always" }
        let tag = lastComponent[lastComponent.index(after: colon)...]
        return tag == "latest" ? "Always" : "IfNotPresent"
    }
}

extension JSONValue {
    /// Sets `key` when it is absent or null (on objects only).
    mutating func setDefault(_ key: String, _ value: JSONValue) {
        guard case .object(var o) = self else { return }
        if o[key] == nil || o[key] == .null {
            o[key] = value
            self = .object(o)
        }
    }

    /// Mutates the object at `path`, creating empty objects on the way (null counts as absent).
    mutating func update(_ path: [String], _ body: (inout JSONValue) -> Void) {
        guard case .object(var o) = self, let first = path.first else {
            if path.isEmpty { body(&self) }
            return
        }
        var child = o[first] ?? .object(JSONObject())
        if child == .null { child = .object(JSONObject()) }
        guard child.objectValue != nil else { return }
        child.update(Array(path.dropFirst()), body)
        o[first] = child
        self = .object(o)
    }

    /// Mutates each object element of the array at `key`, if there is one.
    mutating func updateEach(_ key: String, _ body: (inout JSONValue) -> Void) {
        guard case .object(var o) = self, case .array(var items)? = o[key] else { return }
        for i in items.indices where items[i].objectValue != nil { body(&items[i]) }
        o[key] = .array(items)
        self = .object(o)
    }
}
