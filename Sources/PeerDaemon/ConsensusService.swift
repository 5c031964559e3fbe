import Consensus
import Gossip
import Logging
import ServiceLifecycle
import Sodium

/// Raft inside the peer: the node id on disk, the transport on the Raft port, addresses from gossip, and
/// the leader's membership controller that adds, promotes and replaces voters without an operator.
final class ConsensusService: Service {
    let node: ConsensusNode
    let transport: RaftTransport
    let gossip: GossipService
    let configuration: PeerConfiguration
    let logger: Logger

    struct SetupError: Error, CustomStringConvertible {
        let description: String
    }

    /// A random, persistent id: Raft ids must never be reused by a different peer, and names can be.
    static func loadOrCreateNodeID(dataDirectory: String) throws(SetupError) -> UInt64 {
        let path = dataDirectory + "/node-id"
        if SmallFile.exists(path) {
            guard let text = try? SmallFile.read(path), let id = UInt64(text.trimmingWhitespace(), radix: 16), id != 0 else {
                throw SetupError(description: "node id file \(path) is damaged; it must hold this peer's Raft id in hex")
            }
            return id
        }
        var id: UInt64 = 0
        while id == 0 {
            guard let bytes = try? Sodium.randomBytes(count: 8) else { throw SetupError(description: "cannot draw a node id") }
            id = bytes.reduce(0) { $0 << 8 | UInt64($1) }
        }
        do { try SmallFile.writeAtomically(path, String(id, radix: 16) + "\n") } catch {
            throw SetupError(description: "cannot write \(path): \(error)")
        }
        return id
    }

    init(configuration: PeerConfiguration, nodeID: UInt64, gossip: GossipService, logger: Logger) {
        self.configuration = configuration
        self.gossip = gossip
        self.logger = logger
        let members = gossip.node
        // A peer whose process dies closes its Raft connections at once: gossip probes it now instead of in its turn.
        transport = RaftTransport(localID: nodeID, logger: logger) { id in
            if let member = Self.member(of: id, in: members.members) { members.probeSoon(member.address) }
        }
        node = ConsensusNode(
            id: nodeID,
            dataDirectory: configuration.dataDirectory,
            settings: ConsensusSettings(),
            transport: transport,
            resolver: { id in Self.raftAddress(of: id, in: members.members) },
            logger: logger,
            // Only used when the log is empty: a peer that joins waits for the leader to add it.
            bootstrap: configuration.join.isEmpty ? RaftMembership(voters: [nodeID]) : nil
        )
    }

    /// Where to send Raft messages for `id`. A member gossip thinks dead still gets them: Raft must not
    /// depend on gossip's verdict to elect a leader, and a peer that restarted may not be alive in every
    /// view yet.
    static func raftAddress(of id: UInt64, in members: [MemberState]) -> PeerAddress? {
        guard let member = member(of: id, in: members), let address = member.metadata.entries["raft"],
              let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]) else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        return PeerAddress(host: host, port: port)
    }

    /// The gossip member that publishes Raft id `id`: a live one before one gossip thinks dead.
    static func member(of id: UInt64, in members: [MemberState]) -> MemberState? {
        let key = String(id, radix: 16)
        let candidates = members.filter { $0.metadata.entries["raftID"] == key }
        return candidates.first(where: { $0.status.isLive }) ?? candidates.first
    }

    func run() async throws {
        let node = self.node
        defer { transport.close() }
        do {
            // On SIGTERM the whole group is cancelled: the node's loop syncs its log and returns.
            try await cancelWhenGracefulShutdown {
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask {
                        try await self.transport.serve(host: self.configuration.bindAddress, port: self.configuration.raftPort) { from, frame in
                            node.receive(from: from, frame: frame)
                        }
                    }
                    tasks.addTask { try await node.run() }
                    tasks.addTask { await self.controlMembership() }
                    // Whatever ends first (a storage failure, a lost listener, cancellation) ends the rest.
                    _ = try await tasks.next()
                    tasks.cancelAll()
                }
            }
        } catch is CancellationError {
            logger.info("Raft stopped")
        }
    }

    /// The leader's membership controller: one step per second at most, each step waited for.
    func controlMembership() async {
        var deadSince: [UInt64: ContinuousClock.Instant] = [:]
        let gracePeriod: Duration = .seconds(30)
        // After a change that committed, plan the next almost at once: 49 peers joining together used to take
        // 49 s of one-a-second steps, the new cluster unsettled all along (issue #3's N = 50 window).
        var stepCommitted = false
        while !Task.isCancelled {
            // Only the leader plans; the others sleep until the Raft loop reports a role change, not once a second.
            let current = node.status()
            if current.role != .leader {
                deadSince = [:]
                stepCommitted = false
                _ = await node.waitForRoleChange(from: current.role, term: current.term)
                continue
            }
            try? await Task.sleep(for: stepCommitted ? .milliseconds(50) : .seconds(1))
            stepCommitted = false
            let now = ContinuousClock.now
            var views: [MembershipPlanner.PeerView] = []
            for member in gossip.node.members {
                guard let text = member.metadata.entries["raftID"], let id = UInt64(text, radix: 16) else { continue }
                let health: MembershipPlanner.PeerView.Health
                switch member.status {
                case .alive: health = .alive; deadSince[id] = nil
                case .suspect: health = .suspect
                case .dead where node.isCaughtUp(id, lag: 0):
                    // Gossip can lag a healed partition; a member Raft still replicates to is not removed.
                    health = .suspect; deadSince[id] = nil
                case .dead:
                    let since = deadSince[id] ?? now
                    deadSince[id] = since
                    health = .dead(for: now - since)
                case .left: health = .left
                }
                views.append(.init(raftID: id, health: health))
            }
            let status = node.status()
            guard let step = MembershipPlanner.nextStep(status: status, peers: views, isCaughtUp: { node.isCaughtUp($0, lag: 64) },
                                                        targetVoters: configuration.voters, deadGracePeriod: gracePeriod) else { continue }
            do {
                switch step {
                case .addLearner(let id):
                    logger.info("adding a peer to Raft as a learner", metadata: ["member": "\(id)"])
                    try await node.addLearner(id)
                case .promote(let id):
                    logger.info("promoting a caught-up learner to voter", metadata: ["member": "\(id)"])
                    try await node.promote(id)
                case .remove(let id, let reason):
                    logger.notice("removing a Raft member", metadata: ["member": "\(id)", "reason": "\(reason)"])
                    try await node.removeMember(id)
                }
                stepCommitted = true
            } catch {
                logger.info("membership change did not complete; will retry", metadata: ["step": "\(step)", "error": "\(error)"])
            }
        }
    }
}
