import Consensus
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import ResourceModel

extension KubernetesAPI {
    enum Subresource { case main, status }

    // MARK: Bodies

    /// The request body as a JSON object: JSON, or YAML for `application/yaml`. Malformed → 400.
    func parseObjectBody(_ request: KubeRequest, protobufKind: ResourceInfo? = nil) throws -> JSONValue {
        let value: JSONValue
        switch request.contentType {
        case "", "application/json", "*/*", "text/plain":
            value = try parseJSON(request.body)
        case "application/yaml", "application/x-yaml", "text/yaml":
            value = try YAMLBody.parse(request.body)
        case "application/vnd.kubernetes.protobuf":
            guard let info = protobufKind else { fallthrough }
            do { value = try ProtobufBody.decode(request.body, as: info) } catch {
                throw APIError.unsupportedMediaType(request.contentType, accepted: ["application/json", "application/yaml"], detail: error.message)
            }
        default:
            throw APIError.unsupportedMediaType(request.contentType, accepted: ["application/json", "application/yaml"])
        }
        guard value.objectValue != nil else { throw APIError.badRequest("the request body must be a JSON object, not \(value.typeName)") }
        return value
    }

    func parseJSON(_ bytes: [UInt8]) throws -> JSONValue {
        do {
            return try JSONValue.parse(bytes, limits: JSONParseLimits(maxBytes: options.maxBodyBytes))
        } catch {
            throw APIError.badRequest("the request body is not valid JSON: \(error.description)")
        }
    }

    /// Fills `kind`/`apiVersion` from the URL when absent (the Python client omits them); refuses a different type.
    func checkTypeMeta(_ object: inout JSONValue, _ info: ResourceInfo) throws {
        let kind = object["kind"]?.stringValue ?? ""
        let apiVersion = object["apiVersion"]?.stringValue ?? ""
        if !kind.isEmpty && kind != info.kind {
            throw APIError.badRequest("the object provided is unrecognized (must be of type \(info.kind)): kind \(goQuoted(kind)) does not match the URL")
        }
        if !apiVersion.isEmpty && apiVersion != info.groupVersion {
            throw APIError.badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(info.groupVersion))")
        }
        object["kind"] = .string(info.kind)
        object["apiVersion"] = .string(info.groupVersion)
    }

    /// A body's namespace must agree with the URL's; an absent one is taken from the URL.
    func checkNamespace(_ object: inout JSONValue, _ t: Target) throws {
        guard t.info.namespaced, let ns = t.namespace else { return }
        if let bodyNs = object["metadata"]?["namespace"]?.stringValue, !bodyNs.isEmpty, bodyNs != ns {
            throw APIError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        object.set(.string(ns), at: ["metadata", "namespace"])
    }

    /// `fieldValidation`: Strict → 400, Ignore → nothing, Warn (the default) → `Warning` headers.
    func unknownFieldWarnings(_ object: JSONValue, _ info: ResourceInfo, _ request: KubeRequest) throws -> [String] {
        let unknown = Schemas.unknownFields(in: object, kind: info.kind)
        guard !unknown.isEmpty else { return [] }
        switch request.query["fieldValidation"] {
        case "Strict"?: throw APIError(.strictDecoding(kind: info.kind, apiVersion: info.groupVersion, unknown: unknown))
        case "Ignore"?: return []
        default: return unknown.map(Schemas.unknownFieldMessage)
        }
    }

    static func labels(_ object: JSONValue) -> [String: String] {
        var out: [String: String] = [:]
        for (k, v) in object["metadata"]?["labels"]?.objectValue ?? JSONObject() { if let s = v.stringValue { out[k] = s } }
        return out
    }

    static func name(_ object: JSONValue) -> String { object["metadata"]?["name"]?.stringValue ?? "" }

    // MARK: Get and list

    func get(_ t: Target, name: String, _ request: KubeRequest) async throws -> KubeResponse {
        guard let stored = try await read(t.info, namespace: t.namespace, name: name, consistency(request)) else {
            throw APIError(.notFound(t.info, name: name))
        }
        if request.wantsTable && t.subresource == nil {
            return .json(Tables.table(kind: t.info.kind, objects: [stored.object], nowEpochSeconds: now(),
                                      resourceVersion: String(stored.modRevision), includeObject: includeObject(request)))
        }
        return .json(stored.object)
    }

    func includeObject(_ request: KubeRequest) -> Tables.IncludeObject {
        request.query["includeObject"].flatMap(Tables.IncludeObject.init(rawValue:)) ?? .metadata
    }

    /// The selectors of a list or watch; malformed ones → 400.
    struct Filter {
        var labels: LabelSelectorMatcher
        var fields: FieldSelector?
        func matches(_ object: JSONValue) -> Bool {
            labels.matches(KubernetesAPI.labels(object)) && (fields?.matches(object) ?? true)
        }
    }

    func filter(_ t: Target, _ request: KubeRequest) throws -> Filter {
        var labels = LabelSelectorMatcher.everything
        if let text = request.query["labelSelector"], !text.isEmpty {
            do { labels = try LabelSelectorMatcher(parsing: text) } catch { throw APIError.badRequest("unable to parse requirement: \(error.message)") }
        }
        var fields: FieldSelector?
        if let text = request.query["fieldSelector"], !text.isEmpty {
            do {
                let f = try FieldSelector(parsing: text)
                try f.validate(kind: t.info.kind)
                fields = f
            } catch { throw APIError.badRequest(error.message) }
        }
        return Filter(labels: labels, fields: fields)
    }

    /// Every object of a collection (one namespace, or all) and the store revision of the read.
    func readAll(_ info: ResourceInfo, namespace: String?, _ consistency: ReadConsistency) async throws -> (objects: [JSONValue], revision: UInt64) {
        let prefix = ObjectKeys.prefix(info, namespace: namespace)
        let page = try await storeRead(consistency) { store in
            (try? store.range(prefix: prefix)).map { ($0.items, $0.revision) } ?? ([], store.revision)
        }
        var objects: [JSONValue] = []
        for kv in page.0 {
            guard let object = codec.decode(kv.value, as: info, modRevision: kv.modRevision) else {
                logger.error("skipping an undecodable stored object", metadata: ["key": "\(kv.key)"])
                continue
            }
            objects.append(object)
        }
        return (objects, page.1)
    }

    func list(_ t: Target, _ request: KubeRequest) async throws -> KubeResponse {
        let filter = try filter(t, request)
        let (all, revision) = try await readAll(t.info, namespace: t.namespace, consistency(request))
        let items = all.filter(filter.matches)
        if request.wantsTable {
            return .json(Tables.table(kind: t.info.kind, objects: items, nowEpochSeconds: now(), resourceVersion: String(revision),
                                      includeObject: includeObject(request)))
        }
        return .json(.object(JSONObject([
            ("kind", .string(t.info.listKind)), ("apiVersion", .string(t.info.groupVersion)),
            ("metadata", ["resourceVersion": .string(String(revision))]), ("items", .array(items)),
        ])))
    }

    // MARK: Create

    func create(_ t: Target, _ request: KubeRequest) async throws -> KubeResponse {
        var object = try parseObjectBody(request, protobufKind: t.info)
        try checkTypeMeta(&object, t.info)
        try checkNamespace(&object, t)
        let warnings = try unknownFieldWarnings(object, t.info, request)
        return try await createObject(object, t, request, warnings: warnings)
    }

    /// Defaulting → server fields → validation → a write that must not find the key.
    func createObject(_ body: JSONValue, _ t: Target, _ request: KubeRequest, warnings: [String]) async throws -> KubeResponse {
        let info = t.info
        for attempt in 0..<3 {
            var object = body
            var name = Self.name(object)
            let generate = name.isEmpty ? object["metadata"]?["generateName"]?.stringValue ?? "" : ""
            if !generate.isEmpty {
                var rng = RandomSourceGenerator(source: random)
                name = ServerFields.generatedName(prefix: generate, using: &rng)
                object.set(.string(name), at: ["metadata", "name"])
            }
            if info.kind == "Namespace" && !name.isEmpty {
                object.set(.string(name), at: ["metadata", "labels", "kubernetes.io/metadata.name"])
            }
            Defaulting.apply(&object, as: info)
            ServerFields.prepareForCreate(&object, as: info, uid: random.uuid(), nowEpochSeconds: now(), resourceVersion: "", namespace: t.namespace)
            let errors = Validation.validate(object, as: info)
            if !errors.isEmpty { throw APIError(.invalid(info, name: name, errors: errors)) }
            if info.kind == "Pod", let admitPod = options.admitPod, let refusal = await admitPod(object) {
                throw APIError.unprocessable("pods \(goQuoted(name)) is forbidden: \(refusal)")
            }
            if info.namespaced, let ns = t.namespace { try await requireActiveNamespace(ns) }
            if request.isDryRun { return .json(object, status: 201, warnings: warnings) }
            let key = ObjectKeys.key(info, namespace: t.namespace, name: name)
            switch try await propose(.put(key: key, value: codec.encode(object, as: info), expectedModRevision: 0)) {
            case .applied(let revision):
                object.set(.string(String(revision)), at: ["metadata", "resourceVersion"])
                return .json(object, status: 201, warnings: warnings)
            case .conflict:
                if !generate.isEmpty && attempt < 2 { continue }
                throw APIError(.alreadyExists(info, name: name))
            case .notFound, .invalid:
                throw APIError.internalError("the store refused the write of \(key)")
            }
        }
        throw APIError(.alreadyExists(info, name: Self.name(body)))
    }

    static let namespaceInfo = ResourceRegistry.lookup(kind: "Namespace")!  // justified: a registry constant

    func requireActiveNamespace(_ ns: String) async throws {
        guard let stored = try await read(Self.namespaceInfo, namespace: nil, name: ns, .linearizable) else {
            throw APIError(.notFound(Self.namespaceInfo, name: ns))
        }
        if stored.object["metadata"]?["deletionTimestamp"] != nil {
            throw APIError(Status(message: "unable to create new content in namespace \(ns) because it is being terminated",
                                  reason: "Forbidden", details: StatusDetails(name: ns, kind: "namespaces"), code: 403))
        }
    }

    // MARK: Replace and patch

    func replace(_ t: Target, name: String, _ request: KubeRequest, subresource: Subresource) async throws -> KubeResponse {
        var object = try parseObjectBody(request)
        try checkTypeMeta(&object, t.info)
        try checkNamespace(&object, t)
        let bodyName = Self.name(object)
        if bodyName.isEmpty {
            object.set(.string(name), at: ["metadata", "name"])
        } else if bodyName != name {
            throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        let warnings = try unknownFieldWarnings(object, t.info, request)
        guard let current = try await read(t.info, namespace: t.namespace, name: name, .linearizable) else {
            throw APIError(.notFound(t.info, name: name))
        }
        if let rv = object["metadata"]?["resourceVersion"]?.stringValue, !rv.isEmpty, rv != String(current.modRevision) {
            throw APIError(.conflict(t.info, name: name))
        }
        do {
            return try await commitUpdate(t, name: name, new: object, current: current, subresource: subresource, request, warnings: warnings)
        } catch is StoreConflict {
            throw APIError(.conflict(t.info, name: name))
        }
    }

    struct StoreConflict: Error {}

    static let patchTypes = ["application/json-patch+json", "application/merge-patch+json",
                             "application/strategic-merge-patch+json", "application/apply-patch+yaml"]

    /// Parses a patch body for its content type.
    func parsePatch(_ request: KubeRequest) throws -> JSONValue {
        let type = request.contentType
        guard Self.patchTypes.contains(type) else { throw APIError.unsupportedMediaType(type, accepted: Self.patchTypes) }
        if type == "application/apply-patch+yaml" {
            let doc = try YAMLBody.parse(request.body)
            guard doc.objectValue != nil else { throw APIError.badRequest("the apply configuration must be an object") }
            return doc
        }
        return try parseJSON(request.body)
    }

    /// The resourceVersion the client's patch itself sets, if any. Only such a patch is refused when the object
    /// changed; an unpinned one is re-applied to the newer object, as kube-apiserver does. (The patched object
    /// cannot tell: it carries the version of the object it was applied to.)
    static func pinnedResourceVersion(in patch: JSONValue) -> String? {
        if let operations = patch.arrayValue {
            let setting = operations.last {
                $0["path"]?.stringValue == "/metadata/resourceVersion" && ["add", "replace"].contains($0["op"]?.stringValue ?? "")
            }
            return setting?["value"]?.stringValue
        }
        return patch["metadata"]?["resourceVersion"]?.stringValue
    }

    /// Applies a parsed patch of the request's content type to `target`.
    func applyPatch(_ patch: JSONValue, to target: JSONValue, kind: String, _ request: KubeRequest) throws -> JSONValue {
        do {
            switch request.contentType {
            case "application/json-patch+json": return try JSONPatch.apply(patch, to: target)
            case "application/merge-patch+json":
                guard patch.objectValue != nil else { throw PatchError("a merge patch must be a JSON object") }
                return MergePatch.apply(patch, to: target)
            default: return try StrategicMergePatch.apply(patch, to: target, kind: kind)
            }
        } catch let error as PatchError {
            throw APIError.unprocessable(error.message)
        }
    }

    /// Tries an unpinned patch gets when other writes keep landing between its read and its write
    /// (kube-apiserver retries such conflicts the same way; a controller writing status is the usual other writer).
    static let patchAttempts = 10

    func patch(_ t: Target, name: String, _ request: KubeRequest, subresource: Subresource) async throws -> KubeResponse {
        let patch = try parsePatch(request)
        let isApply = request.contentType == "application/apply-patch+yaml"
        for attempt in 0..<Self.patchAttempts {
            guard let current = try await read(t.info, namespace: t.namespace, name: name, .linearizable) else {
                guard isApply && subresource == .main else { throw APIError(.notFound(t.info, name: name)) }
                // Server-side apply of an absent object creates it.
                var object = patch
                try checkTypeMeta(&object, t.info)
                try checkNamespace(&object, t)
                let bodyName = Self.name(object)
                if !bodyName.isEmpty && bodyName != name {
                    throw APIError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
                }
                object.set(.string(name), at: ["metadata", "name"])
                let warnings = try unknownFieldWarnings(object, t.info, request)
                do {
                    return try await createObject(object, t, request, warnings: warnings)
                } catch let error as APIError where error.status.reason == "AlreadyExists" && attempt < Self.patchAttempts - 1 {
                    continue
                }
            }
            var patched = try applyPatch(patch, to: current.object, kind: t.info.kind, request)
            guard patched.objectValue != nil else { throw APIError.unprocessable("the patched object is not a JSON object") }
            try checkTypeMeta(&patched, t.info)
            let currentRV = String(current.modRevision)
            let pinned = Self.pinnedResourceVersion(in: patch)
            if let pinned, !pinned.isEmpty, pinned != currentRV { throw APIError(.conflict(t.info, name: name)) }
            patched.set(.string(currentRV), at: ["metadata", "resourceVersion"])
            let warnings = try unknownFieldWarnings(patched, t.info, request)
            do {
                return try await commitUpdate(t, name: name, new: patched, current: current, subresource: subresource, request, warnings: warnings)
            } catch is StoreConflict {
                // Someone wrote in between: re-read and re-apply, as kube-apiserver does for unpinned patches.
                if attempt < Self.patchAttempts - 1 && (pinned ?? "").isEmpty { continue }
                throw APIError(.conflict(t.info, name: name))
            }
        }
        throw APIError(.conflict(t.info, name: name))
    }

    /// The common tail of PUT and PATCH: server fields, validation, the guarded write.
    /// Throws `StoreConflict` when the object changed since `current` was read.
    func commitUpdate(_ t: Target, name: String, new: JSONValue, current: Stored, subresource: Subresource,
                      _ request: KubeRequest, warnings: [String]) async throws -> KubeResponse {
        let info = t.info
        let rv = String(current.modRevision)
        var object = new
        switch subresource {
        case .main:
            Defaulting.apply(&object, as: info)
            ServerFields.prepareForUpdate(&object, old: current.object, as: info, resourceVersion: rv)
        case .status:
            object = ServerFields.prepareForStatusUpdate(object, old: current.object, resourceVersion: rv)
        }
        let errors = Validation.validate(object, as: info) + Validation.validateUpdate(object, old: current.object, as: info)
        if !errors.isEmpty { throw APIError(.invalid(info, name: name, errors: errors)) }
        // Nothing changed: no write, the resource version stays.
        if object == current.object { return .json(object, warnings: warnings) }
        if request.isDryRun { return .json(object, warnings: warnings) }
        let key = ObjectKeys.key(info, namespace: t.namespace, name: name)
        let oldFinalizers = current.object["metadata"]?["finalizers"]?.arrayValue ?? []
        let newFinalizers = object["metadata"]?["finalizers"]?.arrayValue ?? []
        let deleting = object["metadata"]?["deletionTimestamp"] != nil
        let graceLeft = info.kind == "Pod" && (object["metadata"]?["deletionGracePeriodSeconds"]?.intValue ?? 0) > 0
        if deleting && !oldFinalizers.isEmpty && newFinalizers.isEmpty && !graceLeft {
            // The last finalizer is gone from an object being deleted: it goes now.
            switch try await propose(.delete(key: key, expectedModRevision: current.modRevision)) {
            case .applied(let revision):
                object.set(.string(String(revision)), at: ["metadata", "resourceVersion"])
                return .json(object, warnings: warnings)
            case .conflict: throw StoreConflict()
            case .notFound: throw APIError(.notFound(info, name: name))
            case .invalid(let why): throw APIError.internalError(why)
            }
        }
        switch try await propose(.put(key: key, value: codec.encode(object, as: info), expectedModRevision: current.modRevision)) {
        case .applied(let revision):
            object.set(.string(String(revision)), at: ["metadata", "resourceVersion"])
            return .json(object, warnings: warnings)
        case .conflict(_, let mod):
            if mod == 0 { throw APIError(.notFound(info, name: name)) }
            throw StoreConflict()
        case .notFound: throw APIError(.notFound(info, name: name))
        case .invalid(let why): throw APIError.internalError(why)
        }
    }

    // MARK: Scale

    /// `autoscaling/v1` Scale of a Deployment or ReplicaSet.
    static func scale(of object: JSONValue) -> JSONValue {
        let meta = object["metadata"] ?? .object(JSONObject())
        var scaleMeta = JSONObject()
        for key in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] { if let v = meta[key] { scaleMeta[key] = v } }
        var status = JSONObject()
        status["replicas"] = .int(object["status"]?["replicas"]?.intValue ?? 0)
        if let sel = object["spec"]?["selector"], let typed = try? sel.decode(LabelSelector.self),
           let matcher = try? LabelSelectorMatcher(typed) {
            status["selector"] = .string(matcher.description)
        }
        return .object(JSONObject([
            ("kind", "Scale"), ("apiVersion", "autoscaling/v1"), ("metadata", .object(scaleMeta)),
            ("spec", ["replicas": .int(object["spec"]?["replicas"]?.intValue ?? 0)]), ("status", .object(status)),
        ]))
    }

    func getScale(_ t: Target, name: String, _ request: KubeRequest) async throws -> KubeResponse {
        guard let stored = try await read(t.info, namespace: t.namespace, name: name, consistency(request)) else {
            throw APIError(.notFound(t.info, name: name))
        }
        return .json(Self.scale(of: stored.object))
    }

    func updateScale(_ t: Target, name: String, _ request: KubeRequest) async throws -> KubeResponse {
        let isPatch = request.method == "PATCH"
        let body = isPatch ? try parsePatch(request) : try parseObjectBody(request)
        for attempt in 0..<Self.patchAttempts {
            guard let current = try await read(t.info, namespace: t.namespace, name: name, .linearizable) else {
                throw APIError(.notFound(t.info, name: name))
            }
            let currentScale = Self.scale(of: current.object)
            let wanted = isPatch ? try applyPatch(body, to: currentScale, kind: "Scale", request) : body
            let currentRV = String(current.modRevision)
            let pinned = (isPatch ? Self.pinnedResourceVersion(in: body) : body["metadata"]?["resourceVersion"]?.stringValue) ?? ""
            if !pinned.isEmpty && pinned != currentRV { throw APIError(.conflict(t.info, name: name)) }
            guard let replicas = (wanted["spec"]?["replicas"] ?? .int(0)).intValue else {
                throw APIError.badRequest("spec.replicas must be an integer")
            }
            if let invalid = Status.validateScale(Scale(spec: ScaleSpec(replicas: Int32(clamping: replicas))), info: t.info, name: name) {
                throw APIError(invalid)
            }
            var object = current.object
            object.set(.int(replicas), at: ["spec", "replicas"])
            do {
                let response = try await commitUpdate(t, name: name, new: object, current: current, subresource: .main, request, warnings: [])
                guard case .bytes(let bytes) = response.body, let updated = try? JSONValue.parse(bytes) else { return response }
                return .json(Self.scale(of: updated))
            } catch is StoreConflict {
                if attempt < Self.patchAttempts - 1 && pinned.isEmpty { continue }
                throw APIError(.conflict(t.info, name: name))
            }
        }
        throw APIError(.conflict(t.info, name: name))
    }

    // MARK: Bootstrap

    /// Creates the namespaces every cluster has, when missing. Idempotent; safe on every leader change.
    public func ensureBootstrapObjects() async throws(ConsensusError) {
        let info = Self.namespaceInfo
        for ns in Self.bootstrapNamespaces {
            let key = ObjectKeys.key(info, namespace: nil, name: ns)
            if try await backend.read(.linearizable, { $0.get(key) }) != nil { continue }
            var object: JSONValue = ["apiVersion": "v1", "kind": "Namespace",
                                     "metadata": ["name": .string(ns), "labels": ["kubernetes.io/metadata.name": .string(ns)]]]
            Defaulting.apply(&object, as: info)
            ServerFields.prepareForCreate(&object, as: info, uid: random.uuid(), nowEpochSeconds: now(), resourceVersion: "", namespace: nil)
            // A conflict means another peer created it first: fine.
            // Only Secrets can fail to encode (no cluster key yet); a Namespace never does.
            guard let value = try? codec.encode(object, as: info) else { continue }
            _ = try await backend.propose(.put(key: key, value: value, expectedModRevision: 0))
        }
    }
}
