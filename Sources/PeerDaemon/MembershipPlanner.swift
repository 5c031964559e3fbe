import Consensus

/// Decides, on the leader, the next change to the Raft membership from what gossip says about the peers.
/// Pure: the shell feeds it the Raft status, the gossip view and the clock, and carries out one step at a
/// time (Raft accepts one membership change at a time anyway).
///
/// The rules, so that no operator has to act in the common cases:
/// - a peer gossip shows alive but Raft does not know is added as a learner (it receives the log, no vote);
/// - learners that have caught up are promoted until the voters reach the target — never to an even count
///   above one when an odd one is possible, since an even count tolerates no more failures than the odd
///   count below it and needs a larger quorum;
/// - a member that left gracefully is removed at once; a member gossip has declared dead is removed after a
///   grace period (a reboot is not a reason to reshape the cluster), and a caught-up learner replaces it.
public enum MembershipPlanner {
    public struct PeerView: Sendable, Equatable {
        public enum Health: Sendable, Equatable {
            case alive
            case suspect
            /// Dead for this long, as far as this peer has seen.
            case dead(for: Duration)
            case left
        }
        public var raftID: UInt64
        public var health: Health

        public init(raftID: UInt64, health: Health) {
            self.raftID = raftID
            self.health = health
        }
    }

    public enum Step: Sendable, Equatable {
        case addLearner(UInt64)
        case promote(UInt64)
        case remove(UInt64, reason: String)
    }

    public static func nextStep(status: ConsensusStatus, peers: [PeerView], isCaughtUp: (UInt64) -> Bool,
                                targetVoters: Int, deadGracePeriod: Duration) -> Step? {
        guard status.role == .leader else { return nil }
        let health = Dictionary(peers.map { ($0.raftID, $0.health) }, uniquingKeysWith: { a, _ in a })
        let members = status.voters + status.learners

        // 1. Members that are gone: left at once, dead after the grace period. Never ourselves.
        for member in members where member != status.id {
            switch health[member] {
            case .left:
                return .remove(member, reason: "left the cluster")
            case .dead(let duration) where duration >= deadGracePeriod:
                return .remove(member, reason: "dead for \(duration.components.seconds) s")
            default:
                continue
            }
        }

        // 2. Promote caught-up learners while the voters are short of the target.
        let healthyVoters = status.voters.filter { $0 == status.id || health[$0] == .alive }
        let candidates = status.learners.filter { health[$0] == .alive && isCaughtUp($0) }.sorted()
        let desired = desiredVoters(target: targetVoters, available: healthyVoters.count + candidates.count)
        if status.voters.count < desired, let learner = candidates.first {
            return .promote(learner)
        }

        // 3. Add peers gossip knows and Raft does not.
        let newcomers = peers.filter { $0.health == .alive && !members.contains($0.raftID) && $0.raftID != 0 }
        if let newcomer = newcomers.map(\.raftID).sorted().first {
            return .addLearner(newcomer)
        }
        return nil
    }

    /// The largest odd count not above the target and the peers that can vote; an odd target is assumed
    /// (1, 3 or 5), an even one is rounded down.
    static func desiredVoters(target: Int, available: Int) -> Int {
        let cap = min(max(target, 1), max(available, 1))
        return cap % 2 == 1 ? cap : cap - 1
    }
}
