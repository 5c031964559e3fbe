/// What the API knows about one resource type: enough for routing, discovery and errors.
public struct ResourceInfo: Sendable, Equatable, Hashable {
    public var group: String
    public var version: String
    public var kind: String
    /// URL plural, e.g. `deployments`.
    public var resource: String
    public var singular: String
    public var namespaced: Bool
    public var shortNames: [String]
    public var categories: [String]
    public var verbs: [String]
    /// Subresource names, e.g. `scale`, `status`, `log`.
    public var subresources: [String]

    /// `v1` or `apps/v1`.
    public var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// `deployments.apps` or `pods`: the form used in error messages.
    public var qualifiedResource: String { group.isEmpty ? resource : "\(resource).\(group)" }
    /// `Deployment.apps` or `Pod`: the form used in 422 messages.
    public var qualifiedKind: String { group.isEmpty ? kind : "\(kind).\(group)" }
    public var listKind: String { kind + "List" }
}

public enum ResourceRegistry {
    static let allVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
    static let namespaceVerbs = ["create", "delete", "get", "list", "patch", "update", "watch"]

    private static func info(_ group: String, _ kind: String, _ resource: String, namespaced: Bool = true,
                             short: [String] = [], all: Bool = false, verbs: [String] = allVerbs, sub: [String] = []) -> ResourceInfo {
        ResourceInfo(group: group, version: "v1", kind: kind, resource: resource, singular: kind.lowercased(),
                     namespaced: namespaced, shortNames: short, categories: all ? ["all"] : [], verbs: verbs, subresources: sub)
    }

    /// Every served resource, in discovery order.
    public static let all: [ResourceInfo] = [
        info("", "Namespace", "namespaces", namespaced: false, short: ["ns"], verbs: namespaceVerbs, sub: ["status"]),
        info("", "Node", "nodes", namespaced: false, short: ["no"], sub: ["status"]),
        info("", "Pod", "pods", short: ["po"], all: true, sub: ["log", "status"]),
        info("", "Service", "services", short: ["svc"], all: true, sub: ["status"]),
        info("", "Endpoints", "endpoints", short: ["ep"]),
        info("", "ConfigMap", "configmaps", short: ["cm"]),
        info("", "Secret", "secrets"),
        info("", "Event", "events", short: ["ev"]),
        info("apps", "Deployment", "deployments", short: ["deploy"], all: true, sub: ["scale", "status"]),
        info("apps", "ReplicaSet", "replicasets", short: ["rs"], all: true, sub: ["scale", "status"]),
        info("apps", "DaemonSet", "daemonsets", short: ["ds"], all: true, sub: ["status"]),
        info("batch", "Job", "jobs", all: true, sub: ["status"]),
    ]

    public static func lookup(group: String, version: String, resource: String) -> ResourceInfo? {
        all.first { $0.group == group && $0.version == version && $0.resource == resource }
    }

    public static func lookup(apiVersion: String, kind: String) -> ResourceInfo? {
        all.first { $0.groupVersion == apiVersion && $0.kind == kind }
    }

    public static func lookup(kind: String) -> ResourceInfo? { all.first { $0.kind == kind } }

    /// Resolves what a user may type: plural, singular, short name or kind, optionally `.group`-qualified.
    public static func resolve(_ name: String) -> ResourceInfo? {
        let lower = name.lowercased()
        let parts = lower.split(separator: ".", maxSplits: 1).map(String.init)
        let base = parts.first ?? lower
        let group = parts.count > 1 ? parts[1] : nil
        return all.first { r in
            (group == nil || r.group == group) &&
                (r.resource == base || r.singular == base || r.shortNames.contains(base) || r.kind.lowercased() == base)
        }
    }

    public static var groupVersions: [String] {
        var seen: [String] = []
        for r in all where !seen.contains(r.groupVersion) { seen.append(r.groupVersion) }
        return seen
    }
}

/// Discovery documents (`/api`, `/api/v1`, `/apis`, `/apis/<group>/<version>`).
public enum Discovery {
    /// `GET /api`.
    public static func coreVersions(serverAddress: String = "") -> JSONValue {
        .object(JSONObject([
            ("kind", "APIVersions"),
            ("versions", ["v1"]),
            ("serverAddressByClientCIDRs", [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress)]]),
        ]))
    }

    /// `GET /apis`.
    public static func groupList() -> JSONValue {
        var groups: [JSONValue] = []
        var seen: [String] = []
        for r in ResourceRegistry.all where !r.group.isEmpty && !seen.contains(r.group) {
            seen.append(r.group)
            let gv: JSONValue = ["groupVersion": .string(r.groupVersion), "version": .string(r.version)]
            groups.append(.object(JSONObject([("name", .string(r.group)), ("versions", [gv]), ("preferredVersion", gv)])))
        }
        return .object(JSONObject([("kind", "APIGroupList"), ("apiVersion", "v1"), ("groups", .array(groups))]))
    }

    /// `GET /api/v1` or `GET /apis/<group>/<version>`; nil for an unknown group version.
    public static func resourceList(groupVersion: String) -> JSONValue? {
        let resources = ResourceRegistry.all.filter { $0.groupVersion == groupVersion }
        guard !resources.isEmpty else { return nil }
        var items: [JSONValue] = []
        for r in resources {
            var o = JSONObject()
            o["name"] = .string(r.resource)
            o["singularName"] = .string(r.singular)
            o["namespaced"] = .bool(r.namespaced)
            o["kind"] = .string(r.kind)
            o["verbs"] = .array(r.verbs.map { .string($0) })
            if !r.shortNames.isEmpty { o["shortNames"] = .array(r.shortNames.map { .string($0) }) }
            if !r.categories.isEmpty { o["categories"] = .array(r.categories.map { .string($0) }) }
            items.append(.object(o))
            for sub in r.subresources {
                var s = JSONObject()
                s["name"] = .string("\(r.resource)/\(sub)")
                s["singularName"] = ""
                s["namespaced"] = .bool(r.namespaced)
                switch sub {
                case "scale":
                    s["group"] = "autoscaling"
                    s["version"] = "v1"
                    s["kind"] = "Scale"
                    s["verbs"] = ["get", "patch", "update"]
                case "log":
                    s["kind"] = .string(r.kind)
                    s["verbs"] = ["get"]
                default:
                    s["kind"] = .string(r.kind)
                    s["verbs"] = ["get", "patch", "update"]
                }
                items.append(.object(s))
            }
        }
        return .object(JSONObject([
            ("kind", "APIResourceList"), ("apiVersion", "v1"), ("groupVersion", .string(groupVersion)), ("resources", .array(items)),
        ]))
    }

    /// `GET /version`.
    public static func version(major: String = "1", minor: String = "32", gitVersion: String = "v1.32.0", platform: String = "linux/amd64") -> JSONValue {
        .object(JSONObject([
            ("major", .string(major)), ("minor", .string(minor)), ("gitVersion", .string(gitVersion)),
            ("gitCommit", ""), ("gitTreeState", "clean"), ("buildDate", "1970-01-01T00:00:00Z"),
            ("goVersion", "swift"), ("compiler", "swift"), ("platform", .string(platform)),
        ]))
    }
}
