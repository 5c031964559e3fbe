import Consensus
import Logging
import ServiceLifecycle

/// What only the Raft leader does, started afresh each time this peer becomes leader: make sure the
/// objects every cluster has exist (the `default` and `kube-system` namespaces…). Placement's scheduler and
/// controllers will run here too, and only here.
struct LeaderDuties: Service {
    let consensus: ConsensusNode
    let kubernetes: KubernetesAPI
    let logger: Logger

    func run() async throws {
        var doneForTerm: UInt64 = 0
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: .milliseconds(500))
            let status = consensus.status()
            guard status.role == .leader, status.term != doneForTerm else { continue }
            do {
                try await kubernetes.ensureBootstrapObjects()
                doneForTerm = status.term
                logger.info("leader duties started", metadata: ["term": "\(status.term)"])
            } catch {
                logger.info("bootstrap objects not written yet; will retry", metadata: ["error": "\(error)"])
            }
        }
    }
}
