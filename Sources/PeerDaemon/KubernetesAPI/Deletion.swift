import Consensus
import ResourceModel

extension KubernetesAPI {
    /// `DeleteOptions` from the body and the query (the body wins).
    struct DeleteOptions {
        var gracePeriodSeconds: Int64?
        var propagationPolicy: String?
        var preconditionUID: String?
        var preconditionResourceVersion: String?
        var dryRun = false
    }

    func deleteOptions(_ request: KubeRequest) throws -> DeleteOptions {
        var o = DeleteOptions()
        o.gracePeriodSeconds = request.query["gracePeriodSeconds"].flatMap { Int64($0) }
        o.propagationPolicy = request.query["propagationPolicy"]
        o.dryRun = request.isDryRun
        if !request.body.isEmpty {
            let body = try parseJSON(request.body)
            guard body.objectValue != nil else { throw APIError.badRequest("DeleteOptions must be a JSON object") }
            if let g = body["gracePeriodSeconds"], !g.isNull {
                guard let seconds = g.intValue else { throw APIError.badRequest("gracePeriodSeconds must be an integer") }
                o.gracePeriodSeconds = seconds
            }
            if let p = body["propagationPolicy"]?.stringValue { o.propagationPolicy = p }
            o.preconditionUID = body["preconditions"]?["uid"]?.stringValue
            o.preconditionResourceVersion = body["preconditions"]?["resourceVersion"]?.stringValue
            if let dry = body["dryRun"]?.arrayValue, dry.contains("All") { o.dryRun = true }
        }
        if let p = o.propagationPolicy, !["Orphan", "Background", "Foreground"].contains(p) {
            throw APIError.badRequest("propagationPolicy: Unsupported value: \(goQuoted(p)): supported values: \"Foreground\", \"Background\", \"Orphan\"")
        }
        if let g = o.gracePeriodSeconds, g < 0 { o.gracePeriodSeconds = 0 }
        return o
    }

    /// What DELETE answers: the object for pods and services (clients decode it as such), a Status otherwise,
    /// and the object whenever it is kept (graceful deletion, finalizers).
    func deleteResponse(_ info: ResourceInfo, _ object: JSONValue, kept: Bool) -> KubeResponse {
        if kept || info.kind == "Pod" || info.kind == "Service" { return .json(object) }
        return .json(Status.success(info, name: Self.name(object), uid: object["metadata"]?["uid"]?.stringValue).json)
    }

    func delete(_ t: Target, name: String, _ request: KubeRequest) async throws -> KubeResponse {
        let opts = try deleteOptions(request)
        let info = t.info
        if info.kind == "Namespace" && Self.undeletableNamespaces.contains(name) {
            throw APIError(Status(message: "namespaces \(goQuoted(name)) is forbidden: this namespace may not be deleted", reason: "Forbidden",
                                  details: StatusDetails(name: name, kind: "namespaces"), code: 403))
        }
        for _ in 0..<5 {
            guard let current = try await read(info, namespace: t.namespace, name: name, .linearizable) else {
                throw APIError(.notFound(info, name: name))
            }
            let meta = current.object["metadata"]
            if let uid = opts.preconditionUID, uid != meta?["uid"]?.stringValue ?? "" {
                throw APIError(Status(message: "Operation cannot be fulfilled on \(info.qualifiedResource) \(goQuoted(name)): Precondition failed: UID in precondition: \(uid), UID in object meta: \(meta?["uid"]?.stringValue ?? "")",
                                      reason: "Conflict", details: StatusDetails(name: name, group: info.group.isEmpty ? nil : info.group, kind: info.resource), code: 409))
            }
            if let rv = opts.preconditionResourceVersion, rv != String(current.modRevision) {
                throw APIError(.conflict(info, name: name))
            }
            do {
                if info.kind == "Namespace" { return try await deleteNamespace(current, name: name, opts) }
                return try await deleteObject(t, name: name, current: current, opts)
            } catch is StoreConflict {
                continue
            }
        }
        throw APIError(.conflict(info, name: name))
    }

    /// Immediate removal, or marking for deletion when finalizers remain or a bound pod must stop first.
    func deleteObject(_ t: Target, name: String, current: Stored, _ opts: DeleteOptions) async throws -> KubeResponse {
        let info = t.info
        let key = ObjectKeys.key(info, namespace: t.namespace, name: name)
        var object = current.object
        let meta = object["metadata"]
        let finalizers = meta?["finalizers"]?.arrayValue ?? []
        let alreadyDeleting = meta?["deletionTimestamp"] != nil
        let now = now()

        var keep = false
        var grace: Int64 = 0
        if info.kind == "Pod" {
            let bound = !(object["spec"]?["nodeName"]?.stringValue ?? "").isEmpty
            let phase = object["status"]?["phase"]?.stringValue ?? ""
            let terminal = phase == "Succeeded" || phase == "Failed"
            grace = opts.gracePeriodSeconds ?? object["spec"]?["terminationGracePeriodSeconds"]?.intValue ?? 30
            // A pod on a node gets its grace period: the node agent stops it, then deletes it with grace 0.
            if bound && !terminal && grace > 0 {
                keep = true
                if alreadyDeleting, let existing = meta?["deletionGracePeriodSeconds"]?.intValue, existing <= grace {
                    return deleteResponse(info, object, kept: true)
                }
            }
        }
        if !finalizers.isEmpty {
            keep = true
            if alreadyDeleting && !(info.kind == "Pod" && grace < (meta?["deletionGracePeriodSeconds"]?.intValue ?? 0)) {
                return deleteResponse(info, object, kept: true)
            }
        }
        if keep {
            object.set(.string(Timestamp.format(epochSeconds: now + grace)), at: ["metadata", "deletionTimestamp"])
            object.set(.int(grace), at: ["metadata", "deletionGracePeriodSeconds"])
            if opts.dryRun { return deleteResponse(info, object, kept: true) }
            switch try await propose(.put(key: key, value: codec.encode(object, as: info), expectedModRevision: current.modRevision)) {
            case .applied(let revision):
                object.set(.string(String(revision)), at: ["metadata", "resourceVersion"])
                return deleteResponse(info, object, kept: true)
            case .conflict: throw StoreConflict()
            case .notFound: throw APIError(.notFound(info, name: name))
            case .invalid(let why): throw APIError.internalError(why)
            }
        }
        if opts.dryRun { return deleteResponse(info, object, kept: false) }
        switch try await propose(.delete(key: key, expectedModRevision: current.modRevision)) {
        case .applied: return deleteResponse(info, object, kept: false)
        case .conflict(_, let mod):
            if mod == 0 { throw APIError(.notFound(info, name: name)) }
            throw StoreConflict()
        case .notFound: throw APIError(.notFound(info, name: name))
        case .invalid(let why): throw APIError.internalError(why)
        }
    }

    /// Marks the namespace Terminating (no new content), removes everything it holds, then removes it.
    func deleteNamespace(_ current: Stored, name: String, _ opts: DeleteOptions) async throws -> KubeResponse {
        let info = Self.namespaceInfo
        let key = ObjectKeys.key(info, namespace: nil, name: name)
        var object = current.object
        if object["metadata"]?["deletionTimestamp"] == nil {
            object.set(.string(Timestamp.format(epochSeconds: now())), at: ["metadata", "deletionTimestamp"])
            object.set(.int(0), at: ["metadata", "deletionGracePeriodSeconds"])
        }
        object.set("Terminating", at: ["status", "phase"])
        if opts.dryRun { return .json(object) }
        var mod = current.modRevision
        if object != current.object {
            switch try await propose(.put(key: key, value: codec.encode(object, as: info), expectedModRevision: current.modRevision)) {
            case .applied(let revision): mod = revision
            case .conflict: throw StoreConflict()
            case .notFound: throw APIError(.notFound(info, name: name))
            case .invalid(let why): throw APIError.internalError(why)
            }
            object.set(.string(String(mod)), at: ["metadata", "resourceVersion"])
        }
        try await purgeNamespaceContents(name)
        switch try await propose(.delete(key: key, expectedModRevision: mod)) {
        case .applied, .notFound: break
        case .conflict: throw StoreConflict()
        case .invalid(let why): throw APIError.internalError(why)
        }
        return .json(object)
    }

    /// Deletes every namespaced object under `namespace`, in guarded batches (re-read on a race).
    func purgeNamespaceContents(_ namespace: String) async throws {
        for info in ResourceRegistry.all where info.namespaced {
            let prefix = ObjectKeys.prefix(info, namespace: namespace)
            for _ in 0..<1000 {
                let page = try await storeRead(.linearizable) { store in
                    ((try? store.range(prefix: prefix, limit: 256))?.items ?? []).map { ($0.key, $0.modRevision) }
                }
                if page.isEmpty { break }
                let ops = page.map { StoreOperation.delete(key: $0.0, expectedModRevision: $0.1) }
                switch try await propose(.batch(ops)) {
                case .applied, .conflict, .notFound: continue
                case .invalid(let why): throw APIError.internalError(why)
                }
            }
        }
    }
}
