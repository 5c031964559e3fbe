import Consensus
import ResourceModel
import ServiceLifecycle

extension KubernetesAPI {
    /// `?watch=true`: a chunked stream of `{"type":…,"object":…}` lines.
    ///
    /// Without `resourceVersion` (or with `0`) the stream starts with a synthetic ADDED for every matching
    /// object; with one it sends only changes after it. History already compacted → one ERROR event with
    /// a 410 Expired Status, as kube-apiserver does, so clients re-list.
    func watch(_ t: Target, _ request: KubeRequest) async throws -> KubeResponse {
        let filter = try filter(t, request)
        var start: UInt64?
        if let rv = request.query["resourceVersion"], !rv.isEmpty, rv != "0" {
            guard let n = UInt64(rv) else { throw APIError.badRequest("invalid resource version: \(rv)") }
            start = n
        }
        var timeout = options.maxWatchSeconds
        if let text = request.query["timeoutSeconds"] {
            guard let n = Int64(text), n >= 0 else { throw APIError.badRequest("invalid timeoutSeconds: \(text)") }
            if n > 0 { timeout = min(n, options.maxWatchSeconds) }
        }
        let initialConsistency: ReadConsistency = request.query["resourceVersion"] == "0" ? .stale : .linearizable
        let session = WatchSession(api: self, info: t.info, namespace: t.namespace, filter: filter, table: request.wantsTable,
                                   includeObject: includeObject(request), start: start, initialConsistency: initialConsistency,
                                   timeout: .seconds(timeout))
        return KubeResponse(status: 200, headers: ["Content-Type": "application/json", "Cache-Control": "no-cache, private"],
                            body: .stream { emit in try await session.run(emit) })
    }
}

/// One watch stream's state: where it is in the store's history and how to render events.
struct WatchSession: Sendable {
    let api: KubernetesAPI
    let info: ResourceInfo
    let namespace: String?
    let filter: KubernetesAPI.Filter
    let table: Bool
    let includeObject: Tables.IncludeObject
    let start: UInt64?
    let initialConsistency: ReadConsistency
    let timeout: Duration

    func run(_ emit: KubeResponse.Emit) async throws {
        let deadline = ContinuousClock.now + timeout
        var renderer = Renderer(info: info, table: table, includeObject: includeObject, now: api.now())
        var after: UInt64
        if let start {
            after = start
        } else {
            let (objects, revision) = try await api.readAll(info, namespace: namespace, initialConsistency)
            for object in objects where filter.matches(object) { try await emit(renderer.line("ADDED", object)) }
            after = revision
        }
        let prefix = ObjectKeys.prefix(info, namespace: namespace)
        let batchLimit = api.options.watchBatch
        while !Task.isCancelled {
            let pulled: Result<StoreWatchBatch, StoreReadError>
            do {
                pulled = try await api.backend.read(.stale) { store in
                    do throws(StoreReadError) { return .success(try store.events(after: after, matching: .prefix(prefix), limit: batchLimit)) } catch {
                        return .failure(error)
                    }
                }
            } catch {
                return  // the node stopped: end the stream; clients re-watch
            }
            switch pulled {
            case .failure(.compacted(let requested, let oldest)):
                try await emit(renderer.error(.gone("too old resource version: \(requested) (\(oldest))")))
                return
            case .failure(let other):
                try await emit(renderer.error(APIError.internalError(other.description).status))
                return
            case .success(let batch):
                renderer.now = api.now()
                for event in batch.events {
                    if let (type, object) = translate(event) { try await emit(renderer.line(type, object)) }
                }
                after = batch.nextAfter
                if batch.events.count >= batchLimit { continue }
            }
            let remaining = deadline - ContinuousClock.now
            if remaining <= .zero { return }
            // A watch with no events never writes, so neither a client that left nor a server that is shutting
            // down would end it; wake once a second to notice the latter (clients re-watch elsewhere).
            if Task.isShuttingDownGracefully { return }
            await waitForChange(after: after, atMost: min(remaining, .seconds(1)))
        }
    }

    /// Sleeps until the store moves past `after` or `atMost` elapses, whichever comes first.
    func waitForChange(after: UInt64, atMost: Duration) async {
        let backend = api.backend
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = try? await backend.waitForRevision(after: after) }
            group.addTask { try? await Task.sleep(for: atMost) }
            await group.next()
            group.cancelAll()
        }
    }

    /// A store event as the client sees it through its selectors: an update that makes an object stop
    /// (start) matching is a DELETED (ADDED) for this watcher.
    func translate(_ event: StoreEvent) -> (String, JSONValue)? {
        let revision = event.revision
        let previous = event.prevValue.flatMap { api.codec.decode($0, as: info, modRevision: revision) }
        switch event.type {
        case .deleted:
            guard let previous, filter.matches(previous) else { return nil }
            return ("DELETED", previous)
        case .added, .modified:
            guard let current = api.codec.decode(event.kv.value, as: info, modRevision: revision) else { return nil }
            let now = filter.matches(current)
            let before = previous.map(filter.matches) ?? false
            switch (before, now) {
            case (true, true): return (event.type == .added ? "ADDED" : "MODIFIED", current)
            case (false, true): return ("ADDED", current)
            case (true, false): return ("DELETED", current)
            case (false, false): return nil
            }
        }
    }

    /// Renders events as JSON lines; a Table watch sends the column definitions with its first row only.
    struct Renderer {
        let info: ResourceInfo
        let table: Bool
        let includeObject: Tables.IncludeObject
        var now: Int64
        var sentColumns = false

        mutating func line(_ type: String, _ object: JSONValue) -> [UInt8] {
            var rendered = object
            if table {
                rendered = Tables.table(kind: info.kind, objects: [object], nowEpochSeconds: now,
                                        resourceVersion: object["metadata"]?["resourceVersion"]?.stringValue,
                                        includeObject: includeObject, includeColumnDefinitions: !sentColumns)
                sentColumns = true
            }
            return Array((JSONValue.object(JSONObject([("type", .string(type)), ("object", rendered)])).serialized() + "\n").utf8)
        }

        func error(_ status: Status) -> [UInt8] {
            Array((JSONValue.object(JSONObject([("type", "ERROR"), ("object", status.json)])).serialized() + "\n").utf8)
        }
    }
}
