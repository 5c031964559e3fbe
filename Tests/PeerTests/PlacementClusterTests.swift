import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Testing

/// Placement in a real 3-peer cluster: the Raft leader binds pods to the nodes gossip knows, runs the
/// Deployment and ReplicaSet controllers, and moves pods off a peer killed with `kill -9`.
///
/// Nothing runs the pods here (that is the node agent's job), so the test plays the kubelet: it marks bound
/// pods Running and Ready through the `status` subresource, and a pod counts as available once it is Ready.
@Suite("Placement between peer processes", .serialized)
struct PlacementClusterTests {
    static let grace = 4

    @Test("a Deployment of 10 is bound and spread, rolls out within maxUnavailable, rolls back, and survives kill -9 of a peer")
    func deploymentLifecycle() async throws {
        try #require(FileManager.default.fileExists(atPath: "/usr/bin/kubectl"), "kubectl is not installed at /usr/bin/kubectl")
        let scratch = try ScratchDirectory()
        let hosts = LoopbackAddress.block(3)
        var peers: [PeerProcess?] = []
        defer { for peer in peers { peer?.signal(SIGKILL) } }
        let config = scratch.url.appendingPathComponent("peer.yaml")
        try "nodeGracePeriodSeconds: \(Self.grace)\nrunPods: false\n".write(to: config, atomically: true, encoding: .utf8)
        let keyFile = scratch.url.appendingPathComponent("data-0/gossip.keyring").path
        func start(_ i: Int) throws -> PeerProcess {
            let join = i == 0 ? [] : ["--join", hosts[0], "--gossip-key-file", keyFile]
            return try PeerProcess(["start", "--config", config.path, "--insecure-http", "--name", "peer-\(i)", "--bind-address", hosts[i],
                                    "--data-dir", "data-\(i)"] + join, workingDirectory: scratch.url)
        }
        peers.append(try start(0))
        #expect(await HTTP.waitUntilServing("http://\(hosts[0]):6443/healthz") != nil)
        peers.append(try start(1))
        peers.append(try start(2))
        let api = Kube(base: "http://\(hosts[0]):6443")

        // Three Ready nodes, one per peer, with capacity from gossip.
        let nodesReady = await eventually(.seconds(90)) {
            guard let nodes = await api.items("/api/v1/nodes") else { return false }
            return nodes.count == 3 && nodes.allSatisfy { Kube.isReady($0) && Kube.string($0, "status", "allocatable", "cpu") != nil }
        }
        let nodeNames = await api.items("/api/v1/nodes")?.map { Kube.string($0, "metadata", "name") ?? "?" } ?? []
        #expect(nodesReady, "three Ready nodes: \(nodeNames)\n\(peers[0]?.log.suffix(3000) ?? "")")
        guard nodesReady else { return }

        let kubectl = try Kubectl(server: api.base, scratch: scratch.url)
        try Self.deployment(image: "nginx:1.0").write(to: scratch.url.appendingPathComponent("web.json"), atomically: true, encoding: .utf8)
        var r = try await kubectl.run("apply", "-f", scratch.url.appendingPathComponent("web.json").path)
        #expect(r.status == 0, "\(r.output)")

        // All ten bound to live nodes, spread over the three.
        var kubelet = FakeKubelet(api: api)
        let bound = await eventually(.seconds(60)) {
            let pods = await api.items("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb") ?? []
            await kubelet.markReady(pods)
            return pods.count == 10 && pods.allSatisfy { Kube.string($0, "spec", "nodeName") != nil }
        }
        let pods = await api.items("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb") ?? []
        #expect(bound, "10 pods bound: \(pods.map { Kube.string($0, "spec", "nodeName") ?? "-" })")
        let perNode = Dictionary(grouping: pods, by: { Kube.string($0, "spec", "nodeName") ?? "" }).mapValues(\.count)
        #expect(Set(perNode.keys) == ["peer-0", "peer-1", "peer-2"], "spread: \(perNode)")
        #expect(perNode.values.allSatisfy { $0 >= 3 }, "spread: \(perNode)")
        r = try await kubectl.run("rollout", "status", "deployment/web", "--timeout=60s", whileWaiting: { await kubelet.markReady(await api.items("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb") ?? []) })
        #expect(r.status == 0 && r.output.contains("successfully rolled out"), "\(r.output)")

        // An image update never has more than maxUnavailable (2) of 10 unavailable, nor more than maxSurge (2) extra.
        r = try await kubectl.run("set", "image", "deployment/web", "app=nginx:2.0")
        #expect(r.status == 0, "\(r.output)")
        var minAvailable = 10, maxTotal = 0
        let rolled = await eventually(.seconds(90)) {
            let pods = await api.items("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb") ?? []
            let available = pods.filter { Kube.isReady($0) && Kube.string($0, "metadata", "deletionTimestamp") == nil }.count
            minAvailable = min(minAvailable, available)
            maxTotal = max(maxTotal, pods.count)
            await kubelet.markReady(pods)
            return pods.count == 10 && pods.allSatisfy { Kube.image($0) == "nginx:2.0" && Kube.isReady($0) }
        }
        #expect(rolled, "rolled out to nginx:2.0")
        #expect(minAvailable >= 8, "at least 10 - maxUnavailable available throughout; saw \(minAvailable)")
        #expect(maxTotal <= 12, "at most 10 + maxSurge pods; saw \(maxTotal)")
        r = try await kubectl.run("rollout", "status", "deployment/web", "--timeout=60s", whileWaiting: { await kubelet.markReady(await api.items("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb") ?? []) })
        #expect(r.status == 0 && r.output.contains("successfully rolled out"), "\(r.output)")
        r = try await kubectl.run("rollout", "history", "deployment/web")
        #expect(r.status == 0 && r.output.contains("1 ") && r.output.contains("2 "), "\(r.output)")

        // Undo: back to nginx:1.0, as revision 3.
        r = try await kubectl.run("rollout", "undo", "deployment/web")
        #expect(r.status == 0 && r.output.contains("rolled back"), "\(r.output)")
        let undone = await eventually(.seconds(90)) {
            let pods = await api.items("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb") ?? []
            await kubelet.markReady(pods)
            return pods.count == 10 && pods.allSatisfy { Kube.image($0) == "nginx:1.0" && Kube.isReady($0) }
        }
        #expect(undone, "rolled back to nginx:1.0")
        r = try await kubectl.run("get", "deployment", "web", "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}")
        #expect(r.output == "3", "\(r.output)")

        // kill -9 a peer that is not the Raft leader: after the grace period its pods are replaced on the others.
        let leader = await Self.leaderIndex(hosts)
        let victim = (0..<3).first { $0 != leader && $0 != 0 } ?? 2
        let victimName = "peer-\(victim)"
        peers[victim]?.signal(SIGKILL)
        _ = await peers[victim]?.waitForExit()
        peers[victim] = nil
        let killedAt = ContinuousClock.now
        let moved = await eventually(.seconds(90)) {
            let pods = await api.items("/api/v1/namespaces/default/pods?labelSelector=app%3Dweb") ?? []
            await kubelet.markReady(pods)
            return pods.count == 10 && pods.allSatisfy { (Kube.string($0, "spec", "nodeName") ?? victimName) != victimName }
        }
        let elapsed = ContinuousClock.now - killedAt
        #expect(moved, "pods bound elsewhere after \(victimName) died")
        let node = await api.get("/api/v1/nodes/\(victimName)")
        #expect(node.map { Kube.condition($0, "Ready") } == "Unknown", "the dead peer's node is Ready=Unknown")
        let taints = (node?["spec"] as? [String: Any])?["taints"] as? [[String: Any]] ?? []
        #expect(taints.contains { $0["key"] as? String == "node.kubernetes.io/unreachable" && $0["effect"] as? String == "NoExecute" })
        // Gossip's detection (about 8 s) plus the grace period, plus 10 s for the replacements.
        #expect(elapsed < .seconds(8 + Self.grace + 10 + 10), "replaced after \(elapsed)")
        r = try await kubectl.run("describe", "deployment", "web")
        #expect(r.output.contains("ScalingReplicaSet"), "events in describe: \(r.output)")
    }

    static func leaderIndex(_ hosts: [String]) async -> Int? {
        for (i, host) in hosts.enumerated() {
            if let view = await RaftClusterTests.raft(host), view.role == "leader" { return i }
        }
        return nil
    }

    static func deployment(image: String) -> String {
        """
        {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web","namespace":"default"},
         "spec":{"replicas":10,"selector":{"matchLabels":{"app":"web"}},
                 "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":2,"maxUnavailable":2}},
                 "template":{"metadata":{"labels":{"app":"web"}},
                             "spec":{"containers":[{"name":"app","image":"\(image)"}],
                                     "tolerations":[{"key":"peer.local/no-pods","operator":"Exists","effect":"NoSchedule"}],
                                     "topologySpreadConstraints":[{"maxSkew":1,"topologyKey":"kubernetes.io/hostname",
                                        "whenUnsatisfiable":"ScheduleAnyway","labelSelector":{"matchLabels":{"app":"web"}}}]}}}}
        """
    }
}

func eventually(_ timeout: Duration, _ condition: () async -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if await condition() { return true }
        try? await Task.sleep(for: .milliseconds(200))
    }
    return await condition()
}

/// Just enough of the Kubernetes API for the test, with JSON as Foundation dictionaries.
struct Kube: Sendable {
    let base: String

    func get(_ path: String) async -> [String: Any]? {
        guard let answer = await HTTP.get(base + path), answer.status == 200 else { return nil }
        return (try? JSONSerialization.jsonObject(with: Data(answer.body.utf8))) as? [String: Any]
    }

    func items(_ path: String) async -> [[String: Any]]? {
        await get(path)?["items"] as? [[String: Any]]
    }

    func mergePatch(_ path: String, _ body: String) async -> Int? {
        guard let url = URL(string: base + path) else { return nil }
        var request = URLRequest(url: url)
        request.httpMethod = "PATCH"
        request.timeoutInterval = 5
        request.setValue("application/merge-patch+json", forHTTPHeaderField: "Content-Type")
        request.setValue("close", forHTTPHeaderField: "Connection")
        request.httpBody = Data(body.utf8)
        guard let (_, response) = try? await URLSession.shared.data(for: request) else { return nil }
        return (response as? HTTPURLResponse)?.statusCode
    }

    static func string(_ object: [String: Any], _ path: String...) -> String? {
        var current: Any? = object
        for p in path { current = (current as? [String: Any])?[p] }
        guard let s = current as? String, !s.isEmpty else { return nil }
        return s
    }

    static func condition(_ object: [String: Any], _ type: String) -> String? {
        let conditions = (object["status"] as? [String: Any])?["conditions"] as? [[String: Any]] ?? []
        return conditions.first { $0["type"] as? String == type }?["status"] as? String
    }

    static func isReady(_ object: [String: Any]) -> Bool { condition(object, "Ready") == "True" }

    static func image(_ pod: [String: Any]) -> String? {
        let containers = (pod["spec"] as? [String: Any])?["containers"] as? [[String: Any]] ?? []
        return containers.first?["image"] as? String
    }
}

/// Plays the kubelet for pods nothing runs: a bound pod becomes Running and Ready.
struct FakeKubelet {
    let api: Kube
    var done: Set<String> = []

    init(api: Kube) { self.api = api }

    mutating func markReady(_ pods: [[String: Any]]) async {
        for pod in pods {
            guard let name = Kube.string(pod, "metadata", "name"), let uid = Kube.string(pod, "metadata", "uid"),
                  Kube.string(pod, "spec", "nodeName") != nil, !Kube.isReady(pod), !done.contains(uid) else { continue }
            let now = ISO8601DateFormatter().string(from: Date())
            let status = await api.mergePatch("/api/v1/namespaces/default/pods/\(name)/status", """
                {"status":{"phase":"Running","conditions":[{"type":"PodScheduled","status":"True"},
                 {"type":"Ready","status":"True","lastTransitionTime":"\(now)"}]}}
                """)
            if status == 200 { done.insert(uid) }
        }
    }
}

/// The real kubectl against one peer.
struct Kubectl {
    let directory: URL

    init(server: String, scratch: URL) throws {
        directory = scratch.appendingPathComponent("kubectl")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try """
        apiVersion: v1
        kind: Config
        clusters: [{name: c, cluster: {server: "\(server)"}}]
        users: [{name: u, user: {}}]
        contexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]
        current-context: x
        """.write(to: directory.appendingPathComponent("config"), atomically: true, encoding: .utf8)
    }

    /// Runs kubectl to completion; `whileWaiting` runs every 200 ms meanwhile (the fake kubelet).
    func run(_ args: String..., whileWaiting: (() async -> Void)? = nil) async throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/kubectl")
        process.arguments = ["--kubeconfig", directory.appendingPathComponent("config").path,
                             "--cache-dir", directory.appendingPathComponent("cache").path] + args
        let out = Pipe()
        process.standardOutput = out
        process.standardError = out
        try process.run()
        let reading = Task.detached { (try? out.fileHandleForReading.readToEnd()) ?? Data() }
        while process.isRunning {
            await whileWaiting?()
            try? await Task.sleep(for: .milliseconds(200))
        }
        let data = await reading.value
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
