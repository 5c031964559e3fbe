import Foundation

/// The Kubernetes workloads of issue 8, applied through kubectl and checked both through the API and on the
/// hosts themselves (runc's state roots): a Deployment behind httpGet readiness probes, a DaemonSet and a Job,
/// all from an image built and signed in the test, imported on h1 only (the other peers pull it from there).
enum PodChecks {
    /// The lab's `nodeGracePeriodSeconds`: short, so replacement after a node death fits a CI run.
    static let gracePeriodSeconds = 10
    /// "Replicas run again elsewhere within the grace period plus 10 s."
    static var rebindBound: Duration { .seconds(gracePeriodSeconds + 10) }

    /// The lab's signed images, made once per cluster (they set its peers' configuration).
    static func images(for cluster: Cluster) throws -> SignedImages {
        try cluster.attachment("signed-images") { try SignedImages(cluster: cluster) }
    }

    static func apply(_ manifest: String, on cluster: Cluster, through hosts: [Int]) async throws {
        var last = ""
        // A peer that just formed may not have a leader for a moment; any peer will do.
        for attempt in 0..<20 {
            let i = hosts[attempt % hosts.count]
            let (status, output) = try await cluster.kubectl(["apply", "-f", "-"], through: i, input: manifest)
            if status == 0 { return }
            last = output
            try await Task.sleep(for: .milliseconds(500))
        }
        throw Command.Failure(arguments: ["kubectl", "apply"], status: 1, output: last)
    }

    /// Live hosts (peer running) — where the API is asked.
    static func live(_ cluster: Cluster) -> [Int] { (0..<cluster.count).filter { cluster.isRunning($0) } }

    /// Running containers named `container` on every host, by host index.
    static func running(_ container: String, in cluster: Cluster) async -> [Int: [HostContainer]] {
        var found: [Int: [HostContainer]] = [:]
        for i in 0..<cluster.count { found[i] = await cluster.runningContainers(on: i).filter { $0.name == container } }
        return found
    }
}

extension Cluster {
    /// A value made once per cluster and kept for its life (e.g. the signed images the workloads share).
    func attachment<T: Sendable>(_ key: String, make: () throws -> T) throws -> T {
        try attachmentsLock.withLock {
            if let existing = attachments[key] as? T { return existing }
            let made = try make()
            attachments[key] = made
            return made
        }
    }
}

/// A workload whose pods run the test's signed image: the image is made before the peers start (their trust
/// policy names its key), imported and signed on h1 only (the others pull it from h1), and the manifest applied
/// through h2 (then h3, h1, round again) until a peer accepts it.
protocol SignedImageWorkload: ClusterWorkload {
    var manifest: String { get }
    /// What is wrong now; empty when the workload keeps its promises.
    func problems(_ cluster: Cluster) async -> [String]
}

extension SignedImageWorkload {
    func prepare(_ cluster: Cluster) throws { _ = try PodChecks.images(for: cluster) }

    func start(on cluster: Cluster) async throws {
        try await PodChecks.images(for: cluster).importAndSign(on: cluster, host: 0)
        try await PodChecks.apply(manifest, on: cluster, through: [1, 2, 0])
    }

    /// After the faults, the workload must settle within 2 minutes; what was still wrong otherwise.
    func violations(on cluster: Cluster, after faults: [FaultRecord]) async -> [String] {
        var last: [String] = []
        let ok = await eventually(.seconds(120), every: .seconds(1)) { last = await problems(cluster); return last.isEmpty }
        return ok ? [] : last
    }
}

/// A Deployment of `replicas` web servers, Ready through an httpGet probe on busybox httpd.
struct WebDeployment: SignedImageWorkload {
    var name = "web"
    var replicas = 3

    var manifest: String {
        """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: \(name), namespace: default}
        spec:
          replicas: \(replicas)
          selector: {matchLabels: {app: \(name)}}
          template:
            metadata: {labels: {app: \(name)}}
            spec:
              terminationGracePeriodSeconds: 2
              # The scheduler packs by default; ask it to spread the replicas over the nodes where it can.
              topologySpreadConstraints:
              - {maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {matchLabels: {app: \(name)}}}
              containers:
              - name: web
                image: \(SignedImages.reference)
                readinessProbe:
                  httpGet: {path: /, port: 8080}
                  periodSeconds: 1
        """
    }

    /// Ready replicas the API shows (not being deleted), or nil when no peer answered.
    func readyPods(_ cluster: Cluster, through hosts: [Int]) async -> [PodView]? {
        await cluster.pods(through: hosts, selector: "app=\(name)")?.filter { !$0.deleting && $0.phase == "Running" && $0.ready }
    }

    /// What is wrong now (empty: `replicas` Ready pods, each running exactly once, on the node the API binds it to,
    /// and no other web container running anywhere).
    func problems(_ cluster: Cluster) async -> [String] {
        guard let pods = await cluster.pods(through: PodChecks.live(cluster), selector: "app=\(name)") else { return ["no peer answered"] }
        var problems: [String] = []
        let ready = pods.filter { !$0.deleting && $0.phase == "Running" && $0.ready }
        if ready.count != replicas { problems.append("\(ready.count) of \(replicas) replicas Ready: \(pods)") }
        let running = await PodChecks.running("web", in: cluster)
        let total = running.values.map(\.count).reduce(0, +)
        if total != replicas {
            problems.append("\(total) web containers run on the hosts for \(replicas) replicas: " +
                            running.sorted { $0.key < $1.key }.map { "h\($0.key + 1): \($0.value.map(\.podUID))" }.joined(separator: "; "))
        }
        for (i, containers) in running {
            for container in containers {
                let pod = pods.first { $0.uid == container.podUID }
                if pod?.node != cluster.hosts[i].name {
                    problems.append("h\(i + 1) runs pod \(container.podUID) that the API \(pod.map { "binds to \($0.node ?? "no node")" } ?? "no longer has")")
                }
            }
        }
        return problems
    }
}

/// A DaemonSet: one Ready pod on every node, back on a node when it returns.
struct EdgeDaemonSet: SignedImageWorkload {
    var name = "edge"

    var manifest: String {
        """
        apiVersion: apps/v1
        kind: DaemonSet
        metadata: {name: \(name), namespace: default}
        spec:
          selector: {matchLabels: {app: \(name)}}
          template:
            metadata: {labels: {app: \(name)}}
            spec:
              terminationGracePeriodSeconds: 2
              containers:
              - name: edge
                image: \(SignedImages.reference)
                readinessProbe:
                  httpGet: {path: /, port: 8080}
                  periodSeconds: 1
        """
    }

    /// Empty when every node in `nodes` has exactly one Ready pod and its host runs exactly one edge container.
    func problems(_ cluster: Cluster) async -> [String] { await problems(cluster, nodes: nil) }

    func problems(_ cluster: Cluster, nodes: [Int]?) async -> [String] {
        guard let pods = await cluster.pods(through: PodChecks.live(cluster), selector: "app=\(name)") else { return ["no peer answered"] }
        var problems: [String] = []
        for i in nodes ?? Array(0..<cluster.count) {
            let here = pods.filter { $0.node == cluster.hosts[i].name && !$0.deleting }
            if here.count != 1 || !(here.first?.ready ?? false) { problems.append("h\(i + 1) has \(here) (want one Ready pod)") }
            let running = await cluster.runningContainers(on: i).filter { $0.name == "edge" }
            if running.count != 1 { problems.append("h\(i + 1) runs \(running.count) edge containers") }
        }
        return problems
    }
}

/// A Job of `completions` pods, `parallelism` at a time, each a few seconds long.
struct BatchJob: SignedImageWorkload {
    var name = "batch"
    var completions = 4
    var parallelism = 2
    var seconds = 4

    var manifest: String {
        """
        apiVersion: batch/v1
        kind: Job
        metadata: {name: \(name), namespace: default}
        spec:
          completions: \(completions)
          parallelism: \(parallelism)
          backoffLimit: 20
          template:
            metadata: {labels: {app: \(name)}}
            spec:
              restartPolicy: Never
              terminationGracePeriodSeconds: 1
              containers:
              - name: work
                image: \(SignedImages.reference)
                command: ["sh", "-c", "echo working; sleep \(seconds); echo done"]
        """
    }

    /// Empty once the Job is Complete with exactly `completions` succeeded pods and nothing of it runs.
    func problems(_ cluster: Cluster) async -> [String] {
        let live = PodChecks.live(cluster)
        var job: [String: Any]?
        for i in live where job == nil { job = await cluster.object("job", name, through: i) }
        guard let pods = await cluster.pods(through: live, selector: "app=\(name)"), let job else { return ["no peer answered"] }
        var problems: [String] = []
        let status = job["status"] as? [String: Any] ?? [:]
        let succeeded = status["succeeded"] as? Int ?? 0
        let complete = (status["conditions"] as? [[String: Any]] ?? []).contains { $0["type"] as? String == "Complete" && $0["status"] as? String == "True" }
        let succeededPods = pods.filter { $0.phase == "Succeeded" }.count
        if !complete { problems.append("the Job is not Complete: \(status)") }
        if succeeded != completions || succeededPods != completions {
            problems.append("\(succeeded) succeeded in the Job's status and \(succeededPods) Succeeded pods for \(completions) completions")
        }
        let running = await PodChecks.running("work", in: cluster).values.map(\.count).reduce(0, +)
        if running > 0 { problems.append("\(running) work containers still run") }
        return problems
    }
}
