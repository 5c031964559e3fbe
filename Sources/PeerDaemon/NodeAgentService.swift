import Consensus
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Logging
import NodeAgent
import ResourceModel
import ServiceLifecycle

/// The kubelet's loop for this peer: the pods the store binds to this node go to the node agent, and what the
/// agent observes goes back to the store as pod status.
///
/// Reads come from the local replica (`resourceVersion=0`): a peer cut off from the leader keeps running
/// the pods it has, which is the edge autonomy the product promises. Writes go through the Kubernetes API so
/// they get the same validation, resource versions and watch events as a client's.
struct NodeAgentService: ServiceLifecycle.Service {
    let agent: NodeAgent
    let consensus: ConsensusNode
    let kubernetes: KubernetesAPI
    let nodeName: String
    let logger: Logger
    /// The longest the agent waits between rounds: probes, grace periods and back-off are noticed on rounds.
    var period: Duration = .milliseconds(500)
    /// The wait when no pod is bound here and the last round had nothing to report: only the agent's own
    /// housekeeping (containers left from a removed pod) runs then, and an idle peer should barely wake.
    var idlePeriod: Duration = .seconds(5)
    var batchWindow: Duration = .milliseconds(5)

    func run() async throws {
        do {
            try await agent.start()
        } catch {
            logger.error("node agent cannot start; this peer will run no pods", metadata: ["error": "\(error)"])
            try? await gracefulShutdown()
            return
        }
        let directory = await agent.configuration.directory
        logger.info("node agent started", metadata: ["node": "\(nodeName)", "directory": "\(directory)"])
        try? await consensus.waitUntilLoaded()
        var lastRevision: UInt64 = 0
        // Status the store has not taken yet (no leader, a conflict): the agent reports a status once, so the
        // service keeps it and tries again until it lands or a newer one replaces it.
        var unwritten: [String: PodStatusUpdate] = [:]
        var pods = LocalPods()
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            var quiet = false
            do {
                (unwritten, quiet) = try await round(unwritten: unwritten, pods: &pods)
            } catch {
                logger.warning("node agent round failed; retrying", metadata: ["error": "\(error)"])
            }
            let previous = lastRevision
            lastRevision = await waitForChange(after: lastRevision, atMost: quiet && unwritten.isEmpty ? idlePeriod : period)
            // Woken by the store's apply: a newly bound pod starts at once. The short pause lets a burst of writes
            // (a Deployment scaled up, our own status writes landing) fall into one round; a round on the period
            // has no burst to wait for (and an idle peer saves a timer wake-up).
            if lastRevision != previous { try? await Task.sleep(for: batchWindow) }
        }
        // Containers keep running across a peer restart; the next agent re-adopts them.
        await agent.shutdown(drain: false)
        logger.info("node agent stopped; its containers keep running", metadata: ["node": "\(nodeName)"])
    }

    /// Waits for a store change or the period, whichever comes first; returns the revision seen.
    func waitForChange(after revision: UInt64, atMost period: Duration) async -> UInt64 {
        let consensus = self.consensus
        return await withTaskGroup(of: UInt64?.self) { group in
            group.addTask { try? await consensus.waitForRevision(after: revision) }
            group.addTask {
                try? await Task.sleep(for: period)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? consensus.revision
        }
    }

    /// This node's pods as of the last round, each decoded once per change (by its store revision): listing and
    /// decoding every pod on every round cost more than starting a pod once a hundred ran here.
    struct LocalPods {
        var byKey: [String: (modRevision: UInt64, pod: Pod?)] = [:]
    }

    /// The pods bound to this node, from the local replica (a peer cut off from the leader keeps its pods).
    func boundPods(_ cache: inout LocalPods) async throws -> [Pod] {
        guard let info = ResourceRegistry.lookup(kind: "Pod") else { return [] }
        let prefix = ObjectKeys.prefix(info, namespace: nil)
        let items = try await consensus.read(.stale) { store in (try? store.range(prefix: prefix).items) ?? [] }
        var next: [String: (modRevision: UInt64, pod: Pod?)] = [:]
        next.reserveCapacity(items.count)
        for kv in items {
            if let known = cache.byKey[kv.key], known.modRevision == kv.modRevision {
                next[kv.key] = known
                continue
            }
            var pod: Pod?
            if let object = kubernetes.codec.decode(kv.value, as: info, modRevision: kv.modRevision),
               object["spec"]?["nodeName"]?.stringValue == nodeName {
                do { pod = try object.decode(Pod.self) } catch {
                    logger.warning("pod does not decode; skipping it", metadata: ["pod": "\(Self.reference(object))", "error": "\(error)"])
                }
            }
            next[kv.key] = (kv.modRevision, pod)
        }
        cache.byKey = next
        return next.keys.sorted().compactMap { next[$0]?.pod }
    }

    /// Returns the status updates that did not land, and whether the round was quiet: no pod bound here and
    /// nothing reported.
    func round(unwritten: [String: PodStatusUpdate], pods cache: inout LocalPods) async throws
        -> (unwritten: [String: PodStatusUpdate], quiet: Bool) {
        let began = ContinuousClock.now
        let desired = try await boundPods(&cache)
        let sources = try await sources(for: desired)
        let listed = ContinuousClock.now
        let now = EpochMilliseconds(Date().timeIntervalSince1970 * 1000)
        var report = await agent.reconcile(desired: desired, sources: sources, now: now)
        let reconciled = ContinuousClock.now
        let fresh = Set(report.statuses.map(\.uid))
        let wanted = Set(desired.compactMap { $0.metadata?.uid })
        report.statuses += unwritten.values.filter { !fresh.contains($0.uid) && wanted.contains($0.uid) }
        let failed = await write(report)
        if !report.statuses.isEmpty {
            logger.debug("node agent round", metadata: [
                "pods": "\(desired.count)", "statuses": "\(report.statuses.count)", "list": "\(listed - began)",
                "reconcile": "\(reconciled - listed)", "write": "\(ContinuousClock.now - reconciled)",
            ])
        }
        let quiet = desired.isEmpty && report.statuses.isEmpty && report.events.isEmpty && report.finalized.isEmpty
        return (failed, quiet)
    }

    /// The ConfigMaps and Secrets of the namespaces that hold this node's pods.
    func sources(for pods: [Pod]) async throws -> PodSources {
        var sources = PodSources()
        let namespaces = Set(pods.map { $0.metadata?.namespace ?? "default" })
        for namespace in namespaces.sorted() {
            for object in try await listLocal("/api/v1/namespaces/\(namespace)/configmaps") {
                if let map = try? object.decode(ConfigMap.self), let name = map.metadata?.name {
                    sources.configMaps["\(namespace)/\(name)"] = map
                }
            }
            for object in try await listLocal("/api/v1/namespaces/\(namespace)/secrets") {
                if let secret = try? object.decode(Secret.self), let name = secret.metadata?.name {
                    sources.secrets["\(namespace)/\(name)"] = secret
                }
            }
        }
        return sources
    }

    func listLocal(_ path: String, fieldSelector: String? = nil) async throws -> [JSONValue] {
        var query = ["resourceVersion": "0"]
        if let fieldSelector { query["fieldSelector"] = fieldSelector }
        let response = await kubernetes.handle(KubeRequest(method: "GET", path: path, query: query))
        guard response.status == 200 else {
            throw NodeAgentServiceError(description: "GET \(path): \(response.status) \(String(decoding: response.bodyBytes, as: UTF8.self))")
        }
        return try JSONValue.parse(response.bodyBytes)["items"]?.arrayValue ?? []
    }

    /// Status changes side by side (Raft commits concurrent proposals together), then the pods whose
    /// containers are gone are removed for good.
    /// Returns the status updates that did not land.
    func write(_ report: NodeAgentReport) async -> [String: PodStatusUpdate] {
        let failed = await withTaskGroup(of: PodStatusUpdate?.self) { group in
            for update in report.statuses {
                group.addTask { await writeStatus(update) ? nil : update }
            }
            var failed: [String: PodStatusUpdate] = [:]
            for await update in group { if let update { failed[update.uid] = update } }
            return failed
        }
        for event in report.events { await record(event) }
        for (namespace, name, uid) in report.finalized {
            let body = JSONValue.object(["kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                         "preconditions": ["uid": .string(uid)]])
            let response = await kubernetes.handle(KubeRequest(method: "DELETE", path: "/api/v1/namespaces/\(namespace)/pods/\(name)",
                                                               headers: ["Content-Type": "application/json"],
                                                               body: Array(body.serialized().utf8)))
            if response.status != 200 && response.status != 404 && response.status != 409 {
                logger.warning("terminated pod not removed from the store", metadata: [
                    "pod": "\(namespace)/\(name)", "code": "\(response.status)",
                ])
            }
        }
        return failed
    }

    /// Replaces the pod's status on the object it was computed for; a pod replaced meanwhile (another uid)
    /// is left alone. False when it should be tried again.
    func writeStatus(_ update: PodStatusUpdate) async -> Bool {
        let path = "/api/v1/namespaces/\(update.namespace)/pods/\(update.name)/status"
        for _ in 0..<3 {
            let current = await kubernetes.handle(KubeRequest(method: "GET", path: "/api/v1/namespaces/\(update.namespace)/pods/\(update.name)"))
            if current.status == 404 { return true }
            guard current.status == 200, var object = try? JSONValue.parse(current.bodyBytes) else { return false }
            guard object["metadata"]?["uid"]?.stringValue == update.uid, let status = try? JSONValue.encode(update.status) else { return true }
            object["status"] = status
            let response = await kubernetes.handle(KubeRequest(method: "PUT", path: path, headers: ["Content-Type": "application/json"],
                                                               body: Array(object.serialized().utf8)))
            if response.status == 200 || response.status == 404 { return true }
            if response.status != 409 {
                logger.warning("pod status not written", metadata: [
                    "pod": "\(update.namespace)/\(update.name)", "code": "\(response.status)",
                    "message": "\(String(decoding: response.bodyBytes.prefix(300), as: UTF8.self))",
                ])
                return response.status < 500
            }
        }
        return false
    }

    /// An Event as kubelet writes it, so `kubectl describe pod` says why a container waits or restarts.
    func record(_ event: PodEvent) async {
        let now = Timestamp.format(epochSeconds: Int64(Date().timeIntervalSince1970))
        var involved: JSONValue = ["kind": "Pod", "apiVersion": "v1", "namespace": .string(event.namespace),
                                   "name": .string(event.podName), "uid": .string(event.podUID)]
        if let fieldPath = event.fieldPath { involved["fieldPath"] = .string(fieldPath) }
        let object = EventObject.make(
            metadata: ["generateName": .string(event.podName + "."), "namespace": .string(event.namespace)],
            involvedObject: involved, type: event.type, reason: event.reason, message: event.message,
            component: "kubelet", host: nodeName, timestamp: now)
        let response = await kubernetes.handle(KubeRequest(method: "POST", path: "/api/v1/namespaces/\(event.namespace)/events",
                                                           headers: ["Content-Type": "application/json"],
                                                           body: Array(object.serialized().utf8)))
        if response.status != 201 {
            logger.debug("event not recorded", metadata: ["reason": "\(event.reason)", "code": "\(response.status)"])
        }
    }

    static func reference(_ object: JSONValue) -> String {
        "\(object["metadata"]?["namespace"]?.stringValue ?? "")/\(object["metadata"]?["name"]?.stringValue ?? "")"
    }
}

struct NodeAgentServiceError: Error, CustomStringConvertible {
    let description: String
}

/// How this peer fetches images: from registries with the system's trust and no credentials, and from other
/// peers (their `/v2/`) with the cluster CA and token — which are sent to peers only, never to a registry.
struct PeerImageTransport: DistributionTransport {
    let security: ClusterSecurity
    /// Base URLs (`https://host:port`) of the other peers that are alive now.
    let peerURLs: @Sendable () -> [String]

    func transport(for url: String) -> HTTPDistributionTransport {
        guard peerURLs().contains(where: { url.hasPrefix($0 + "/") }) else { return HTTPDistributionTransport() }
        return HTTPDistributionTransport(client: security.peerClient())
    }

    func get(_ url: String, headers: [(String, String)]) async throws -> DistributionReply {
        try await transport(for: url).get(url, headers: headers)
    }

    func download(_ url: String, to path: String) async throws -> (status: Int, digest: Digest, size: Int64) {
        try await transport(for: url).download(url, to: path)
    }
}

extension ClusterSecurity {
    /// A client for another peer's API: trusts the cluster CA and carries the cluster token.
    func peerClient() -> HTTPClient {
        let material = current
        return HTTPClient(trustedCAPEM: material?.record.caCertificate, bearerToken: material?.adminToken)
    }
}
