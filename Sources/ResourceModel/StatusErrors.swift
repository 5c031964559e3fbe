/// Builders for the `Status` objects kube-apiserver returns, phrased as it phrases them.
extension Status {
    public var json: JSONValue { (try? JSONValue.encode(self)) ?? .null }

    public static func notFound(_ info: ResourceInfo, name: String) -> Status {
        Status(message: "\(info.qualifiedResource) \"\(name)\" not found", reason: "NotFound",
               details: StatusDetails(name: name, group: info.group.isEmpty ? nil : info.group, kind: info.resource), code: 404)
    }

    public static func alreadyExists(_ info: ResourceInfo, name: String) -> Status {
        Status(message: "\(info.qualifiedResource) \"\(name)\" already exists", reason: "AlreadyExists",
               details: StatusDetails(name: name, group: info.group.isEmpty ? nil : info.group, kind: info.resource), code: 409)
    }

    public static func conflict(_ info: ResourceInfo, name: String) -> Status {
        Status(message: "Operation cannot be fulfilled on \(info.qualifiedResource) \"\(name)\": the object has been modified; please apply your changes to the latest version and try again",
               reason: "Conflict", details: StatusDetails(name: name, group: info.group.isEmpty ? nil : info.group, kind: info.resource), code: 409)
    }

    public static func badRequest(_ message: String) -> Status {
        Status(message: message, reason: "BadRequest", code: 400)
    }

    public static func gone(_ message: String) -> Status {
        Status(message: message, reason: "Expired", code: 410)
    }

    public static func pathNotFound() -> Status {
        Status(message: "the server could not find the requested resource", reason: "NotFound", details: StatusDetails(), code: 404)
    }

    /// 422 Invalid: `Deployment.apps "bad" is invalid: [a: Required value, b: Invalid value: ...]`.
    public static func invalid(_ info: ResourceInfo, name: String, errors: [FieldError]) -> Status {
        let causes = errors.map { StatusCause(reason: $0.type.reason, message: $0.detailMessage, field: $0.field) }
        let summary = errors.count == 1 ? errors[0].description : "[" + errors.map(\.description).joined(separator: ", ") + "]"
        return Status(message: "\(info.qualifiedKind) \"\(name)\" is invalid: \(summary)", reason: "Invalid",
                      details: StatusDetails(name: name, group: info.group.isEmpty ? nil : info.group, kind: info.kind, causes: causes), code: 422)
    }
}

extension Status {
    /// What DELETE returns for kinds whose clients expect a Status rather than the object.
    public static func success(_ info: ResourceInfo, name: String, uid: String?) -> Status {
        var details = StatusDetails(name: name, group: info.group.isEmpty ? nil : info.group, kind: info.resource)
        details.uid = uid
        return Status(status: "Success", details: details)
    }

    /// 400 for a strict-decoding failure (`fieldValidation=Strict` and unknown fields).
    public static func strictDecoding(kind: String, apiVersion: String, unknown: [String]) -> Status {
        .badRequest(Schemas.strictDecodingMessage(kind: kind, apiVersion: apiVersion, unknown: unknown))
    }

    /// 422 for `PATCH .../scale` or `PUT .../scale` with negative replicas.
    public static func validateScale(_ scale: Scale, info: ResourceInfo, name: String) -> Status? {
        guard let r = scale.spec?.replicas, r < 0 else { return nil }
        let scaleInfo = ResourceInfo(group: "autoscaling", version: "v1", kind: "Scale", resource: "scale", singular: "scale", namespaced: true,
                                     shortNames: [], categories: [], verbs: [], subresources: [])
        return .invalid(scaleInfo, name: name, errors: [.invalid("spec.replicas", .int(Int64(r)), "must be greater than or equal to 0")])
    }
}

extension Discovery {
    /// Aggregated discovery (`apidiscovery.k8s.io/v2`, kubectl ≥ 1.26) for `/api` (core) or `/apis`.
    /// Serve with Content-Type `application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`.
    public static func aggregated(core: Bool) -> JSONValue {
        var groups: [String] = []
        for r in ResourceRegistry.all where (r.group.isEmpty == core) && !groups.contains(r.group) { groups.append(r.group) }
        let items: [JSONValue] = groups.map { group in
            let resources: [JSONValue] = ResourceRegistry.all.filter { $0.group == group }.map { r in
                var o = JSONObject()
                o["resource"] = .string(r.resource)
                o["responseKind"] = ["group": .string(r.group), "version": .string(r.version), "kind": .string(r.kind)]
                o["scope"] = r.namespaced ? "Namespaced" : "Cluster"
                o["singularResource"] = .string(r.singular)
                o["verbs"] = .array(r.verbs.map { .string($0) })
                if !r.shortNames.isEmpty { o["shortNames"] = .array(r.shortNames.map { .string($0) }) }
                if !r.categories.isEmpty { o["categories"] = .array(r.categories.map { .string($0) }) }
                let subs: [JSONValue] = r.subresources.map { sub in
                    let kind: JSONValue = sub == "scale"
                        ? ["group": "autoscaling", "version": "v1", "kind": "Scale"]
                        : ["group": .string(r.group), "version": .string(r.version), "kind": .string(r.kind)]
                    let verbs: JSONValue = sub == "log" ? ["get"] : ["get", "patch", "update"]
                    return .object(JSONObject([("subresource", .string(sub)), ("responseKind", kind), ("verbs", verbs)]))
                }
                if !subs.isEmpty { o["subresources"] = .array(subs) }
                return .object(o)
            }
            let meta: JSONValue = group.isEmpty ? .object(JSONObject()) : ["name": .string(group)]
            return .object(JSONObject([
                ("metadata", meta),
                ("versions", [.object(JSONObject([("version", "v1"), ("freshness", "Current"), ("resources", .array(resources))]))]),
            ]))
        }
        return .object(JSONObject([("kind", "APIGroupDiscoveryList"), ("apiVersion", "apidiscovery.k8s.io/v2"), ("metadata", .object(JSONObject())), ("items", .array(items))]))
    }
}
