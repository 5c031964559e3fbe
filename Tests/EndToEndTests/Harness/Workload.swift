import Foundation

/// A workload that runs beside the KV client while faults come and go, and says afterwards which of its
/// promises broke. The hook for the Kubernetes workloads (a Deployment behind readiness probes, a
/// DaemonSet, a Job through kubectl) once placement and the node agent run pods: implement this, pass it
/// to `Soak.run(…, workloads:)` or call it from a test around `FaultRunner.run`.
protocol ClusterWorkload: Sendable {
    var name: String { get }
    /// Creates what the workload needs (e.g. `kubectl apply`); called once the cluster has formed.
    func start(on cluster: Cluster) async throws
    /// Called after every fault has healed; answers broken promises (empty: all kept). `faults` says what
    /// happened, e.g. which node was killed and when, for "replicas run elsewhere within the grace period".
    func violations(on cluster: Cluster, after faults: [FaultRecord]) async -> [String]
}

extension Cluster {
    /// Runs kubectl against host i's API (plain HTTP while the lab runs `--insecure-http`); answers the exit
    /// status and everything it printed. `input` goes to stdin (for `apply -f -`).
    func kubectl(_ arguments: [String], through i: Int, input: String? = nil) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Command.tool("kubectl"))
        process.arguments = ["--server", "http://\(hosts[i].address):6443", "--request-timeout", "10s"] + arguments
        let output = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = stdin
        // No user kubeconfig may redirect the call elsewhere.
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": lab.directory.path, "KUBECONFIG": "/dev/null"]
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
