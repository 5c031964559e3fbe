import Foundation

/// A workload that runs beside the KV client while faults come and go, and says afterwards which of its
/// promises broke: `WebDeployment`, `EdgeDaemonSet` and `BatchJob` (PodWorkloads.swift) through kubectl,
/// passed to `Soak.run(…, workloads:)` (`SOAK_PODS=1`) or called from a test around `FaultRunner.run`.
protocol ClusterWorkload: Sendable {
    var name: String { get }
    /// Called before the peers start (e.g. to set `cluster.configuration`: the image trust pods need).
    func prepare(_ cluster: Cluster) throws
    /// Creates what the workload needs (e.g. `kubectl apply`); called once the cluster has formed.
    func start(on cluster: Cluster) async throws
    /// Called after every fault has healed; answers broken promises (empty: all kept). `faults` says what
    /// happened, e.g. which node was killed and when, for "replicas run elsewhere within the grace period".
    func violations(on cluster: Cluster, after faults: [FaultRecord]) async -> [String]
}

extension ClusterWorkload {
    func prepare(_ cluster: Cluster) throws {}
}

extension Cluster {
    /// Runs kubectl against host i's API (plain HTTP while the lab runs `--insecure-http`); answers the exit
    /// status and everything it printed. `input` goes to stdin (for `apply -f -`).
    func kubectl(_ arguments: [String], through i: Int, input: String? = nil) async throws -> (status: Int32, output: String) {
        let server = "http://\(hosts[i].address):6443"
        let home = lab.directory.path
        return try await offPool { try Self.runKubectl(arguments, server: server, home: home, input: input) }
    }

    private static func runKubectl(_ arguments: [String], server: String, home: String, input: String?) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Command.tool("kubectl"))
        process.arguments = ["--server", server, "--request-timeout", "10s"] + arguments
        let output = Pipe()
        let stdin = Pipe()
        process.standardOutput = output
        process.standardError = output
        process.standardInput = stdin
        // No user kubeconfig may redirect the call elsewhere.
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": home, "KUBECONFIG": "/dev/null"]
        try process.run()
        if let input { stdin.fileHandleForWriting.write(Data(input.utf8)) }
        try? stdin.fileHandleForWriting.close()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// Runs blocking work (a subprocess and its pipes) on a Dispatch thread. Swift's cooperative pool has one
/// thread per core (two here): blocking it would starve every other test's tasks running in parallel.
func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
    }
}

func offPool<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(returning: work()) }
    }
}
