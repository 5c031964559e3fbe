import Consensus
import Gossip
import Logging
import ServiceLifecycle

/// What only the Raft leader does, started afresh each time this peer becomes leader: make sure the
/// objects every cluster has exist (the `default` and `kube-system` namespaces…), and run Placement — the
/// scheduler, the controllers and the nodes kept from gossip — for as long as the term lasts.
struct LeaderDuties: Service {
    let consensus: ConsensusNode
    let kubernetes: KubernetesAPI
    /// Gossip's members (the nodes Placement schedules onto); nil runs the bootstrap duties only.
    var members: (@Sendable () -> [MemberState])?
    /// Gossip's membership changes: Placement keeps the nodes when they happen instead of looking each second.
    var membershipEvents: (@Sendable () -> AsyncStream<MembershipEvent>)?
    var placement = PlacementSettings()
    var name = "peer"
    let logger: Logger

    init(consensus: ConsensusNode, kubernetes: KubernetesAPI, members: (@Sendable () -> [MemberState])? = nil,
         membershipEvents: (@Sendable () -> AsyncStream<MembershipEvent>)? = nil,
         placement: PlacementSettings = PlacementSettings(), name: String = "peer", logger: Logger) {
        self.consensus = consensus
        self.kubernetes = kubernetes
        self.members = members
        self.membershipEvents = membershipEvents
        self.placement = placement
        self.name = name
        self.logger = logger
    }

    func run() async throws {
        var doneForTerm: UInt64 = 0
        var running: (term: UInt64, task: Task<Void, Never>)?
        defer { running?.task.cancel() }
        var status = consensus.status()
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            // Leadership lost or a new term: this term's placement stops at once (its late writes fail their guards).
            if let r = running, status.role != .leader || status.term != r.term {
                r.task.cancel()
                running = nil
                logger.info("placement stopped", metadata: ["term": "\(r.term)"])
            }
            if status.role == .leader {
                if status.term != doneForTerm {
                    do {
                        try await kubernetes.ensureBootstrapObjects()
                        doneForTerm = status.term
                        logger.info("leader duties started", metadata: ["term": "\(status.term)"])
                    } catch {
                        logger.info("bootstrap objects not written yet; will retry", metadata: ["error": "\(error)"])
                    }
                }
                if running == nil, let members {
                    let (consensus, kubernetes, placement, name, logger) = (consensus, kubernetes, placement, name, logger)
                    let membershipEvents = membershipEvents
                    running = (status.term, Task {
                        var run = PlacementRun(consensus: consensus, kubernetes: kubernetes, members: members,
                                               membershipEvents: membershipEvents, settings: placement,
                                               reportingInstance: name, logger: logger)
                        await run.run()
                    })
                }
            }
            if status.role == .leader && status.term != doneForTerm {
                try? await Task.sleep(for: .milliseconds(200))
                status = consensus.status()
            } else {
                // Woken by the Raft loop when the role or term changes: polling the role was a large share of
                // an idle peer's wake-ups, and a new leader starts placement as soon as it is elected.
                let (consensus, role, term) = (consensus, status.role, status.term)
                status = await cancelWhenGracefulShutdown { await consensus.waitForRoleChange(from: role, term: term) }
            }
        }
    }
}
