import Foundation
@testable import PeerDaemon
import Testing

/// The real clients against a real 3-peer cluster over HTTPS: kubectl 1.32 (the machine's), kubectl 1.20
/// (Debian's kubernetes-client, unpacked into .tools/ by scripts/install-deps) and the official Python client
/// 37 (a venv in .tools/). Every call is aimed at a different peer than the one before.
@Suite("Real clients against three peers over HTTPS", .serialized)
struct ClusterClientsTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let kubectl120 = root.appendingPathComponent(".tools/kubectl-1.20/usr/bin/kubectl").path
    static let python = root.appendingPathComponent(".tools/python/bin/python").path

    @Test("kubectl 1.32, kubectl 1.20 and the Python client drive a 3-peer cluster over HTTPS")
    func realClients() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/kubectl"), "kubectl 1.32 is not installed at /usr/bin/kubectl")
        try #require(FileManager.default.isExecutableFile(atPath: Self.kubectl120), "kubectl 1.20 is missing: run scripts/install-deps")
        try #require(FileManager.default.isExecutableFile(atPath: Self.python), "the Python client is missing: run scripts/install-deps")
        let cluster = try await TestCluster.start(size: 3)
        defer { cluster.stop() }

        // Tokens: a request without one, or with a wrong one, gets a 401 Status; health needs none.
        let noToken = PeerClient(server: cluster.servers[0], trustedCAPEM: cluster.caPEM)
        var r = try await noToken.http.request("GET", cluster.servers[0] + "/api/v1/namespaces")
        #expect(r.status == 401 && r.text.contains("\"reason\":\"Unauthorized\""), "\(r.status) \(r.text)")
        r = try await noToken.http.request("GET", cluster.servers[1] + "/nope")
        #expect(r.status == 401, "\(r.status) \(r.text)")
        r = try await PeerClient(server: cluster.servers[0], trustedCAPEM: cluster.caPEM, token: "wrong").http.request("GET", cluster.servers[2] + "/version")
        #expect(r.status == 401, "\(r.status) \(r.text)")
        r = try await noToken.http.request("GET", cluster.servers[2] + "/livez")
        #expect(r.status == 200 && r.text == "ok")

        // A client that does not trust the cluster CA cannot talk to it at all.
        await #expect(throws: (any Error).self) {
            _ = try await PeerClient(server: cluster.servers[0]).http.request("GET", cluster.servers[0] + "/healthz")
        }

        // A write through peer 1 is visible at once to a linearizable read on peer 2.
        let admin = (0..<3).map { PeerClient(server: cluster.servers[$0], trustedCAPEM: cluster.caPEM, token: cluster.token) }
        r = try await admin[0].http.request("POST", cluster.servers[0] + "/api/v1/namespaces/default/configmaps",
                                            body: Array(#"{"metadata":{"name":"cm1"},"data":{"k":"v"}}"#.utf8),
                                            headers: [("Content-Type", "application/json")])
        #expect(r.status == 201, "\(r.text)")
        r = try await admin[1].http.request("GET", cluster.servers[1] + "/api/v1/namespaces/default/configmaps/cm1")
        #expect(r.status == 200 && r.text.contains("\"k\":\"v\""), "\(r.text)")

        // `peer members` talks HTTPS to the address the peer recorded, with the data directory's CA and token.
        let members = try await run(TestCluster.binary, ["members", "--data-dir", cluster.dataDirectories[2]])
        #expect(members.status == 0 && members.output.split(separator: "\n").count == 4 && members.output.contains("peer1"), "\(members.output)")
        let refused = try await run(TestCluster.binary, ["members", "--data-dir", cluster.scratch.path, "--server", cluster.servers[0]])
        #expect(refused.status != 0 && refused.output.contains("holds no cluster CA"), "\(refused.output)")

        try await kubectlWorkflow(cluster, kubectl: "/usr/bin/kubectl", tag: "new")
        try await kubectlWorkflow(cluster, kubectl: Self.kubectl120, tag: "old")

        let python = try await run(Self.python, [Self.root.appendingPathComponent("tests/python/client_workflow.py").path] + cluster.kubeconfigs)
        #expect(python.status == 0 && python.output.contains("ok wrong token refused"), "\(python.output)")

        // /metrics: requests by verb, resource and code; Raft and gossip figures.
        r = try await admin[0].http.request("GET", cluster.servers[0] + "/metrics")
        #expect(r.status == 200)
        for figure in [#"apiserver_request_total{verb="create",resource="pods",code="201"}"#, "apiserver_request_duration_seconds_bucket",
                       "raft_term ", "raft_commit_index ", #"raft_proposals_total{result="applied"}"#, #"gossip_members{state="alive"} 3"#,
                       #"gossip_packets_dropped{reason="unauthenticated"}"#] {
            #expect(r.text.contains(figure), "\(figure) missing from /metrics")
        }
        r = try await noToken.http.request("GET", cluster.servers[1] + "/readyz")
        #expect(r.status == 200 && r.text == "ok")
    }

    func kubectlWorkflow(_ cluster: TestCluster, kubectl: String, tag: String) async throws {
        let dir = cluster.scratch.appendingPathComponent("kubectl-\(tag)").path
        try FileManager.default.createDirectory(atPath: dir + "/kustomize", withIntermediateDirectories: true)
        let name = "web-\(tag)"
        try deploymentJSON(name).write(toFile: dir + "/d1.json", atomically: true, encoding: .utf8)
        try deploymentJSON(name, replicas: 3, image: "nginx:1.26").write(toFile: dir + "/d2.json", atomically: true, encoding: .utf8)
        try """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: kcm-\(tag)
        data:
          greeting: hello
        """.write(toFile: dir + "/kustomize/cm.yaml", atomically: true, encoding: .utf8)
        try """
        resources:
        - cm.yaml
        commonLabels:
          from: kustomize
        """.write(toFile: dir + "/kustomize/kustomization.yaml", atomically: true, encoding: .utf8)
        var turn = 0
        /// Runs kubectl against the next peer in turn.
        func k(_ args: String...) async throws -> (status: Int32, output: String) {
            let kubeconfig = cluster.kubeconfigs[turn % 3]
            turn += 1
            return try await run(kubectl, ["--kubeconfig", kubeconfig, "--cache-dir", dir + "/cache-\(turn % 3)"] + args)
        }
        var r = try await k("create", "-f", dir + "/d1.json")
        #expect(r.status == 0 && r.output.contains("deployment.apps/\(name) created"), "\(tag): \(r.output)")
        r = try await k("get", "deploy", name, "-o", "yaml")
        #expect(r.status == 0 && r.output.contains("kind: Deployment") && r.output.contains("replicas: 2"), "\(tag): \(r.output)")
        r = try await k("get", "deploy")
        #expect(r.status == 0 && r.output.contains("UP-TO-DATE") && r.output.contains(name), "\(tag): \(r.output)")
        r = try await k("delete", "deploy", name)
        #expect(r.status == 0, "\(tag): \(r.output)")
        r = try await k("apply", "-f", dir + "/d1.json")
        #expect(r.status == 0 && r.output.contains("created"), "\(tag): \(r.output)")
        r = try await k("apply", "-f", dir + "/d2.json")
        #expect(r.status == 0 && r.output.contains("configured"), "\(tag): \(r.output)")
        r = try await k("apply", "-f", dir + "/d2.json")
        #expect(r.status == 0 && r.output.contains("unchanged"), "\(tag): \(r.output)")
        r = try await k("apply", "--server-side", "-f", dir + "/d1.json")
        #expect(r.status == 0 && r.output.contains("serverside-applied"), "\(tag): \(r.output)")
        r = try await k("apply", "-k", dir + "/kustomize")
        #expect(r.status == 0 && r.output.contains("configmap/kcm-\(tag)"), "\(tag): \(r.output)")
        r = try await k("get", "configmap", "kcm-\(tag)", "-o", "jsonpath={.metadata.labels.from} {.data.greeting}")
        #expect(r.output == "kustomize hello", "\(tag): \(r.output)")
        r = try await k("label", "deploy", name, "tier=fe")
        #expect(r.status == 0 && r.output.contains("labeled"), "\(tag): \(r.output)")
        r = try await k("scale", "deploy", name, "--replicas=5")
        #expect(r.status == 0 && r.output.contains("scaled"), "\(tag): \(r.output)")
        r = try await k("get", "deploy", name, "-o", "jsonpath={.spec.replicas} {.metadata.labels.tier}")
        #expect(r.output == "5 fe", "\(tag): \(r.output)")
        r = try await k("describe", "deploy", name)
        #expect(r.status == 0 && r.output.contains("Name:") && r.output.contains(name) && r.output.contains("nginx"), "\(tag): \(r.output)")

        // `get pods -w` on peer 3 sees a pod created through peer 1.
        let watcher = try Subprocess(kubectl, ["--kubeconfig", cluster.kubeconfigs[2], "--cache-dir", dir + "/cache-w", "get", "pods", "-w"])
        defer { watcher.stop() }
        try await Task.sleep(for: .seconds(1))
        r = try await run(kubectl, ["--kubeconfig", cluster.kubeconfigs[0], "--cache-dir", dir + "/cache-0", "run", "watched-\(tag)", "--image=busybox"])
        #expect(r.status == 0 && r.output.contains("created"), "\(tag): \(r.output)")
        let seen = await watcher.waitForOutput(containing: "watched-\(tag)", timeout: .seconds(15))
        #expect(seen, "\(tag): the watch on peer 3 did not show the pod: \(watcher.output)")
        watcher.stop()

        // The scheduler binds the pod to a peer that runs no pods (--run-pods false), so a graceful delete would
        // wait for a node agent that never comes: delete it at once, as an operator would.
        r = try await k("delete", "pod", "watched-\(tag)", "--grace-period=0", "--force")
        #expect(r.status == 0 && r.output.contains("deleted"), "\(tag): \(r.output)")
        r = try await k("delete", "-k", dir + "/kustomize")
        #expect(r.status == 0 && r.output.contains("deleted"), "\(tag): \(r.output)")
        r = try await k("delete", "deploy", name)
        #expect(r.status == 0 && r.output.contains("deleted"), "\(tag): \(r.output)")
        r = try await k("get", "deploy", name)
        #expect(r.status != 0 && r.output.contains("NotFound"), "\(tag): \(r.output)")
    }
}

/// Three `peer` processes on their own loopback addresses, started over HTTPS: the first creates the
/// cluster, the other two join with its gossip key and receive the CA and token through the store.
final class TestCluster: Sendable {
    let scratch: URL
    let peers: [Subprocess]
    let servers: [String]
    let dataDirectories: [String]
    let kubeconfigs: [String]
    let caPEM: String
    let token: String

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["PEER_BINARY"] { return path }
        return URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("peer").path
    }

    private init(scratch: URL, peers: [Subprocess], servers: [String], dataDirectories: [String], kubeconfigs: [String], caPEM: String, token: String) {
        self.scratch = scratch
        self.peers = peers
        self.servers = servers
        self.dataDirectories = dataDirectories
        self.kubeconfigs = kubeconfigs
        self.caPEM = caPEM
        self.token = token
    }

    static func start(size: Int) async throws -> TestCluster {
        let scratch = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("clients-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        let base = 100 + Int(getpid() % 50)
        let addresses = (0..<size).map { "127.0.\(base).\(245 + $0)" }
        let dirs = (0..<size).map { scratch.appendingPathComponent("peer\($0 + 1)").path }
        var peers: [Subprocess] = []
        func fail(_ message: String) -> any Error {
            for peer in peers { peer.stop() }
            let logs = peers.enumerated().map { "--- peer\($0.offset + 1)\n\($0.element.output.suffix(3000))" }.joined(separator: "\n")
            try? FileManager.default.removeItem(at: scratch)
            return TestError("\(message)\n\(logs)")
        }
        func startPeer(_ i: Int, join: [String]) throws {
            peers.append(try Subprocess(binary, ["start", "--name", "peer\(i + 1)", "--data-dir", dirs[i], "--bind-address", addresses[i],
                                                 "--voters", "3", "--log-level", "info", "--run-pods", "false"] + join))
        }
        try startPeer(0, join: [])
        // The first peer writes its gossip keyring at start; the others join with that key.
        let keyring = dirs[0] + "/gossip.keyring"
        let deadline = ContinuousClock.now + .seconds(20)
        while !FileManager.default.fileExists(atPath: ClusterSecurity.tokenPath(dirs[0])) || !FileManager.default.fileExists(atPath: keyring) {
            guard ContinuousClock.now < deadline else { throw fail("the first peer wrote no keys") }
            try await Task.sleep(for: .milliseconds(50))
        }
        let key = String(decoding: try Data(contentsOf: URL(fileURLWithPath: keyring)), as: UTF8.self).split(separator: "\n")[0]
        let keyFile = scratch.appendingPathComponent("gossip.key").path
        try String(key).write(toFile: keyFile, atomically: true, encoding: .utf8)
        for i in 1..<size { try startPeer(i, join: ["--join", addresses[0], "--gossip-key-file", keyFile]) }

        let credentials = try LocalCredentials.load(dataDirectory: dirs[0])
        let servers = addresses.map { "https://\($0):6443" }
        // Every peer serves HTTPS (joiners once the store delivered the CA) and is ready (a linearizable read works).
        for (i, server) in servers.enumerated() {
            let client = PeerClient(server: server, trustedCAPEM: credentials.caPEM, token: credentials.token)
            var ready = false
            while !ready {
                guard ContinuousClock.now < deadline + .seconds(40) else { throw fail("peer\(i + 1) never became ready over HTTPS") }
                if let r = try? await client.http.request("GET", server + "/readyz"), r.status == 200 { ready = true } else {
                    try await Task.sleep(for: .milliseconds(200))
                }
            }
        }
        // Each peer's own `peer kubeconfig`: joiners hold the CA and token too.
        var kubeconfigs: [String] = []
        for i in 0..<size {
            // The last peer's without --server: it prints the address that peer serves on.
            let out = try await run(binary, ["kubeconfig", "--data-dir", dirs[i]] + (i == size - 1 ? [] : ["--server", servers[i]]))
            guard out.output.contains("server: \(servers[i])") else { throw fail("kubeconfig for peer\(i + 1) names another server: \(out.output)") }
            guard out.status == 0 else { throw fail("peer kubeconfig failed for peer\(i + 1): \(out.output)") }
            let path = scratch.appendingPathComponent("kubeconfig\(i + 1)").path
            try out.output.write(toFile: path, atomically: true, encoding: .utf8)
            kubeconfigs.append(path)
        }
        return TestCluster(scratch: scratch, peers: peers, servers: servers, dataDirectories: dirs, kubeconfigs: kubeconfigs,
                           caPEM: credentials.caPEM, token: credentials.token)
    }

    func stop() {
        for peer in peers { peer.terminate() }
        for peer in peers { peer.stop() }
        try? FileManager.default.removeItem(at: scratch)
    }
}

/// A child process whose output is captured as it comes.
final class Subprocess: @unchecked Sendable {
    let process = Process()
    private let pipe = Pipe()
    private let lock = NSLock()
    private var captured = Data()

    init(_ executable: String, _ arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self, !chunk.isEmpty else { return }
            self.lock.withLock { self.captured.append(chunk) }
        }
        try process.run()
    }

    var output: String { lock.withLock { String(decoding: captured, as: UTF8.self) } }

    func waitForOutput(containing text: String, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if output.contains(text) { return true }
            try? await Task.sleep(for: .milliseconds(50))
        }
        return output.contains(text)
    }

    /// SIGTERM: a peer shuts down gracefully.
    func terminate() {
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
    }

    /// Waits up to 10 s after a SIGTERM, then kills.
    func stop() {
        let deadline = Date().addingTimeInterval(10)
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        pipe.fileHandleForReading.readabilityHandler = nil
    }

    deinit { stop() }
}

/// Runs a program to completion: (exit status, stdout and stderr together). Waits on a thread of its own, never
/// on the cooperative pool (in-process servers answer on it), and kills a program that runs past `timeout`
/// (its status is then that of SIGKILL and its output says so).
func run(_ executable: String, _ arguments: [String], timeout: TimeInterval = 90) async throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let out = Pipe()
    process.standardOutput = out
    process.standardError = out
    try process.run()
    let pid = process.processIdentifier
    let killer = DispatchWorkItem { kill(pid, SIGKILL) }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    let data: Data = await withCheckedContinuation { continuation in
        Thread.detachNewThread {
            let data = (try? out.fileHandleForReading.readToEnd()) ?? Data()
            process.waitUntilExit()
            continuation.resume(returning: data)
        }
    }
    killer.cancel()
    let timedOut = process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL
    let output = String(decoding: data, as: UTF8.self) + (timedOut ? "\n[killed after \(Int(timeout)) s: \(([executable] + arguments).joined(separator: " "))]" : "")
    return (process.terminationStatus, output)
}
