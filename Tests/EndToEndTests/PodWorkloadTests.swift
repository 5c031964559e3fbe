import Foundation
import Testing

/// Real pods (runc, CNI, images built and signed in the test) on three peers in network namespaces, driven
/// through kubectl. Each host is its own network namespace, so each peer's pod bridge and subnet are private:
/// pod IPs are reached from inside the host that runs the pod. Needs root; CI is root.
@Suite("pods end to end in network namespaces", .serialized)
struct PodWorkloadTests {
    static func formed(_ cluster: Cluster) async throws -> Bool {
        guard try await cluster.startAll() else {
            Issue.record("the cluster did not form:\n\(await cluster.describe())\n\(cluster.logTail(0))")
            return false
        }
        return true
    }

    static func pod(_ name: String, image: String, node: String) -> String {
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: \(name), namespace: default, labels: {test: provenance}}
        spec:
          nodeName: \(node)
          terminationGracePeriodSeconds: 1
          containers:
          - name: web
            image: \(image)
            readinessProbe:
              httpGet: {path: /, port: 8080}
              periodSeconds: 1
        """
    }

    /// POSTs a pod as JSON straight to host i's API; answers the status code and body.
    static func post(_ cluster: Cluster, through i: Int, name: String, image: String, node: String) async -> (Int, String)? {
        let body = #"{"apiVersion":"v1","kind":"Pod","metadata":{"name":"\#(name)","namespace":"default"},"spec":{"nodeName":"\#(node)","containers":[{"name":"web","image":"\#(image)"}]}}"#
        guard case .answered(let answer) = await HTTPClient.request("POST", cluster.url(i, "/api/v1/namespaces/default/pods"), body: body, contentType: "application/json")
        else { return nil }
        return (answer.status, answer.body)
    }

    @Test("issue 7 through kubectl on 3 peers: an image imported and signed on one peer is pulled by another, runs, is Ready and answers on its pod IP; unsigned, untrusted, tampered and re-signed images are refused with a reason and an Event, and no container runs")
    func signedImagesThroughKubectl() async throws {
        let cluster = try Cluster(hosts: 3)
        defer { cluster.teardown() }
        let images = try PodChecks.images(for: cluster)
        let scratch = images.directory
        let unsigned = try SignedImages.build(in: scratch, name: "unsigned", reference: "e2e/unsigned:1", page: "unsigned")
        let untrusted = try SignedImages.build(in: scratch, name: "untrusted", reference: "e2e/untrusted:1", page: "untrusted")
        let tampered = try SignedImages.build(in: scratch, name: "tampered", reference: "e2e/tampered:1", page: "tampered")
        let original = try SignedImages.build(in: scratch, name: "original", reference: "e2e/swap:0", page: "original")
        let swapped = try SignedImages.build(in: scratch, name: "swapped", reference: "e2e/swap:1", page: "swapped")
        guard try await Self.formed(cluster) else { return }

        // The good image only on h1; unsigned and untrusted ones on h1 too; the tampered one on h3 (signed, then its
        // layer changed at rest under the same signed reference).
        try await images.importAndSign(on: cluster, host: 0)
        try await cluster.peerTool(["image", "import", unsigned], host: 0)
        try Command.run([Cluster.binary.path, "keygen", "signing", "--out", scratch + "/other.key"])
        try await cluster.peerTool(["image", "import", untrusted], host: 0)
        try await cluster.peerTool(["image", "sign", "--key", scratch + "/other.key", "e2e/untrusted:1"], host: 0)
        try await cluster.peerTool(["image", "import", tampered], host: 2)
        try await cluster.peerTool(["image", "sign", "--key", images.keyPath, "e2e/tampered:1"], host: 2)
        let layer = try #require(try SignedImages.layers(of: "e2e/tampered:1", in: cluster, host: 2).first)
        let blob = cluster.dataDirectory(2) + "/images/blobs/sha256/" + layer
        var bytes = try Data(contentsOf: URL(fileURLWithPath: blob))
        bytes[bytes.count / 2] ^= 0xff
        try bytes.write(to: URL(fileURLWithPath: blob))
        // On h2: e2e/swap:0 signed, and e2e/swap:1 carrying a copy of that signature (valid, but for another digest).
        try await cluster.peerTool(["image", "import", original], host: 1)
        try await cluster.peerTool(["image", "import", swapped], host: 1)
        try await cluster.peerTool(["image", "sign", "--key", images.keyPath, "e2e/swap:0"], host: 1)
        try SignedImages.copySignature(from: "e2e/swap:0", to: "e2e/swap:1", in: cluster, host: 1)

        // A signed image, imported on h1 only, created through h2's API, bound to h3: h3 pulls it from h1 over /v2/.
        let created = ContinuousClock.now
        try await PodChecks.apply(Self.pod("signed", image: SignedImages.reference, node: "h3"), on: cluster, through: [1])
        var signed: PodView?
        let ready = await eventually(.seconds(60), every: .milliseconds(500)) {
            signed = await cluster.pods(through: [1, 0])?.first { $0.name == "signed" }
            return signed?.phase == "Running" && signed?.ready == true && signed?.podIP != nil
        }
        print("e2e-pods: the signed pod was Running and Ready on h3 \((ContinuousClock.now - created).formatted) after kubectl apply (pulled from h1)")
        #expect(ready, "the signed pod runs and is Ready on h3: \(signed.map(String.init(describing:)) ?? "not found")\n\(cluster.logTail(2))")
        if let ip = signed?.podIP {
            let page = await cluster.httpGetInHost(2, ip: ip)
            #expect(page?.contains("hello from a signed pod") == true, "it answers HTTP on its pod IP \(ip): \(page ?? "no answer")")
        }
        let listed = try await cluster.peerTool(["image", "list"], host: 2)
        #expect(listed.contains("e2e/web:1"), "h3 pulled the image into its own store: \(listed)")

        // The API refuses at once what its peer already knows is untrusted: 422 with the reason.
        let refused = await Self.post(cluster, through: 0, name: "unsigned-at-once", image: "e2e/unsigned:1", node: "h1")
        #expect(refused?.0 == 422, "h1 holds the unsigned image and answers 422: \(refused.map { "\($0.0) \($0.1)" } ?? "no answer")")
        #expect(refused?.1.contains("ErrImageSignature") == true, "with the reason: \(refused?.1 ?? "")")
        let viaKubectl = try await cluster.kubectl(["apply", "-f", "-"], through: 0, input: Self.pod("unsigned-kubectl", image: "e2e/untrusted:1", node: "h1"))
        #expect(viaKubectl.status != 0 && viaKubectl.output.contains("ErrImageSignature"), "kubectl through h1 is refused with the reason: \(viaKubectl.output)")

        // Peers that do not hold the image accept the pod; the node refuses to run it, with a reason and an Event.
        let cases: [(name: String, image: String, node: Int, through: Int, reason: String, why: String)] = [
            ("unsigned", "e2e/unsigned:1", 1, 1, "ErrImageSignature", "is not signed"),
            ("untrusted", "e2e/untrusted:1", 2, 2, "ErrImageSignature", "not signed by a trusted key"),
            ("tampered", "e2e/tampered:1", 2, 0, "ErrImageTampered", "was tampered with"),
            ("swapped", "e2e/swap:1", 1, 0, "ErrImageSignature", "is for digest"),
        ]
        for c in cases {
            try await PodChecks.apply(Self.pod(c.name, image: c.image, node: cluster.hosts[c.node].name), on: cluster, through: [c.through])
        }
        for c in cases {
            var seen: PodView?
            let waiting = await eventually(.seconds(45), every: .milliseconds(500)) {
                seen = await cluster.pods(through: [c.through, 0])?.first { $0.name == c.name }
                return seen?.waitingReasons.contains(c.reason) == true
            }
            #expect(waiting, "\(c.name): the pod waits with reason \(c.reason): \(seen.map(String.init(describing:)) ?? "not found")")
            var described = ""
            let event = await eventually(.seconds(20), every: .milliseconds(500)) {
                described = (try? await cluster.kubectl(["describe", "pod", c.name], through: c.through).output) ?? ""
                return described.contains("Events:") && described.split(separator: "\n").contains { $0.contains(c.reason) && $0.contains("Warning") && $0.contains(c.why) }
            }
            #expect(event, "\(c.name): kubectl describe shows a Warning Event with \(c.reason) saying '\(c.why)':\n\(described)")
            if let uid = seen?.uid {
                let ours = await cluster.containers(on: c.node).filter { $0.podUID == uid }
                #expect(ours.isEmpty, "\(c.name): no container of the refused pod exists on h\(c.node + 1): \(ours)")
            }
            if let line = described.split(separator: "\n").first(where: { $0.contains(c.reason) && $0.contains("Warning") }) {
                print("e2e-pods: \(c.name): \(line.trimmingCharacters(in: .whitespaces))")
            }
        }
    }

    @Test("issue 8 through kubectl on 3 peers running pods: a Deployment behind readiness probes, a DaemonSet and a Job; after kill -9 of a node and after a cut cable the replicas run again elsewhere within the grace period + 10 s, the cut-off node keeps its pods running, the returning node stops the pods it no longer owns (checked with runc on the host), the DaemonSet returns, the Job completes exactly")
    func workloadsSurviveNodeDeath() async throws {
        let cluster = try Cluster(hosts: 3)
        defer { cluster.teardown() }
        let web = WebDeployment()
        let edge = EdgeDaemonSet()
        let batch = BatchJob()
        for w in [web, edge, batch] as [any ClusterWorkload] { try w.prepare(cluster) }
        guard try await Self.formed(cluster) else { return }
        let began = ContinuousClock.now
        try await edge.start(on: cluster)
        try await web.start(on: cluster)
        var problems: [String] = []
        let settled = await eventually(.seconds(120), every: .seconds(1)) {
            problems = await web.problems(cluster) + edge.problems(cluster)
            return problems.isEmpty
        }
        print("e2e-pods: Deployment and DaemonSet Ready on every node \((ContinuousClock.now - began).formatted) after kubectl apply")
        guard settled else {
            Issue.record("the workloads did not settle: \(problems)\n\(cluster.logTail(1))")
            return
        }
        // The Job runs while the first node dies.
        try await batch.start(on: cluster)

        for fault in ["kill -9", "cut cable"] {
            // A node that runs a web replica, preferably not the Raft leader (the Deployment's promise, not the election's).
            let leader = await cluster.leader()
            let pods = await web.readyPods(cluster, through: [0, 1, 2]) ?? []
            let hosting = (0..<cluster.count).filter { i in pods.contains { $0.node == cluster.hosts[i].name } }
            let victim = try #require(hosting.first { $0 != leader } ?? hosting.first, "a node runs a web replica: \(pods)")
            let others = (0..<cluster.count).filter { $0 != victim }
            let stale = await cluster.runningContainers(on: victim).filter { $0.name == "web" }
            #expect(!stale.isEmpty, "runc on h\(victim + 1) shows the web replica the API places there")
            let struck = ContinuousClock.now
            if fault == "kill -9" { await cluster.kill9(victim) } else { try await Nemesis(cluster: cluster).inject(.cutLink(victim)) }

            // The replicas run again elsewhere; meanwhile the victim's containers keep running (edge autonomy).
            var moved: [PodView] = []
            var stillRunning = true
            let rebound = await eventually(PodChecks.rebindBound + .seconds(30), every: .milliseconds(500)) {
                let now = Set(await cluster.runningContainers(on: victim).map(\.id))
                stillRunning = stillRunning && stale.allSatisfy { now.contains($0.id) }
                moved = await web.readyPods(cluster, through: others)?.filter { $0.node != cluster.hosts[victim].name } ?? []
                return moved.count == web.replicas
            }
            let rebinding = ContinuousClock.now - struck
            print("e2e-pods: \(fault) h\(victim + 1): \(web.replicas) replicas Running and Ready on other nodes after \(rebinding.formatted) (bound \(PodChecks.rebindBound.formatted))")
            #expect(rebound, "\(fault) h\(victim + 1): the replicas run again elsewhere: \(moved)")
            #expect(rebinding <= PodChecks.rebindBound, "\(fault) h\(victim + 1): within the grace period + 10 s: \(rebinding.formatted)")
            #expect(stillRunning, "\(fault) h\(victim + 1): its containers keep running while it is gone: \(stale.map(\.id))")
            if fault == "cut cable", let ip = await cluster.pods(through: victim)?.first(where: { $0.labels["app"] == "edge" && $0.node == cluster.hosts[victim].name })?.podIP {
                // The cut-off peer still runs and serves its own pods, answering from its replica.
                let page = await cluster.httpGetInHost(victim, ip: ip)
                #expect(page != nil, "the cut-off node's DaemonSet pod still answers on \(ip)")
            }
            let daemons = await edge.problems(cluster, nodes: others)
            #expect(daemons.isEmpty, "the DaemonSet keeps one Ready pod on every live node: \(daemons)")

            // The node returns: it stops the pods it no longer owns; nothing runs twice; the DaemonSet is back.
            let returned = ContinuousClock.now
            if fault == "kill -9" { try cluster.start(victim) } else { try await Nemesis(cluster: cluster).heal(.cutLink(victim)) }
            var left: [HostContainer] = []
            let stopped = await eventually(.seconds(60), every: .milliseconds(250)) {
                let running = Set(await cluster.runningContainers(on: victim).map(\.id))
                left = stale.filter { running.contains($0.id) }
                return left.isEmpty
            }
            let stopping = ContinuousClock.now - returned
            print("e2e-pods: \(fault) h\(victim + 1): the returning node stopped its \(stale.count) stale web containers \(stopping.formatted) after it came back")
            #expect(stopped, "\(fault) h\(victim + 1): the returning node stops the pods it no longer owns: \(left.map(\.id))")
            let single = await eventually(.seconds(60), every: .seconds(1)) {
                problems = await web.problems(cluster) + edge.problems(cluster)
                return problems.isEmpty
            }
            print("e2e-pods: \(fault) h\(victim + 1): every replica once and the DaemonSet on every node \((ContinuousClock.now - returned).formatted) after the return")
            #expect(single, "\(fault) h\(victim + 1): no replica runs twice, the DaemonSet is on every node: \(problems)")
        }

        var jobProblems: [String] = []
        let done = await eventually(.seconds(90), every: .seconds(1)) { jobProblems = await batch.problems(cluster); return jobProblems.isEmpty }
        #expect(done, "the Job completes its completions exactly: \(jobProblems)")
        print("e2e-pods: the Job completed \(batch.completions) of \(batch.completions) exactly; total \((ContinuousClock.now - began).formatted)")
    }
}
