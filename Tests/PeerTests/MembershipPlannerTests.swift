import Consensus
import Foundation
import PeerDaemon
import Testing

@Suite("membership planner")
struct MembershipPlannerTests {
    typealias View = MembershipPlanner.PeerView

    static func status(leader: UInt64 = 1, voters: [UInt64], learners: [UInt64] = [], role: ConsensusRole = .leader) -> ConsensusStatus {
        let json = """
            {"id":\(leader),"role":"\(role.rawValue)","term":2,"leader":\(leader),"commitIndex":10,"appliedIndex":10,
             "voters":\(voters),"learners":\(learners)}
            """
        // justified: a literal built above; a failure is a broken test, not input
        return try! JSONDecoder().decode(ConsensusStatus.self, from: Data(json.utf8))
    }

    static func plan(_ status: ConsensusStatus, _ peers: [View], caughtUp: Set<UInt64> = [], target: Int = 3) -> MembershipPlanner.Step? {
        MembershipPlanner.nextStep(status: status, peers: peers, isCaughtUp: { caughtUp.contains($0) },
                                   targetVoters: target, deadGracePeriod: .seconds(30))
    }

    @Test("only the leader plans")
    func followersDoNothing() {
        #expect(Self.plan(Self.status(voters: [1], role: .follower), [View(raftID: 2, health: .alive)]) == nil)
    }

    @Test("a new alive peer becomes a learner; suspects and dead strangers do not")
    func newPeersBecomeLearners() {
        #expect(Self.plan(Self.status(voters: [1]), [View(raftID: 1, health: .alive), View(raftID: 7, health: .alive)]) == .addLearner(7))
        #expect(Self.plan(Self.status(voters: [1]), [View(raftID: 7, health: .suspect), View(raftID: 8, health: .dead(for: .seconds(1)))]) == nil)
    }

    @Test("learners are promoted to an odd number of voters, never past the target")
    func promotionKeepsVotersOdd() {
        // One voter and one caught-up learner: two voters would tolerate no more failures, so wait.
        #expect(Self.plan(Self.status(voters: [1], learners: [2]), [View(raftID: 2, health: .alive)], caughtUp: [2]) == nil)
        // Two caught-up learners: promote towards three.
        let peers = [View(raftID: 2, health: .alive), View(raftID: 3, health: .alive)]
        #expect(Self.plan(Self.status(voters: [1], learners: [2, 3]), peers, caughtUp: [2, 3]) == .promote(2))
        #expect(Self.plan(Self.status(voters: [1, 2], learners: [3]), peers, caughtUp: [3]) == .promote(3))
        // A learner that has not caught up is not promoted.
        #expect(Self.plan(Self.status(voters: [1], learners: [2, 3]), peers, caughtUp: [2]) == nil)
        // At the target, the rest stay learners.
        let four = peers + [View(raftID: 4, health: .alive)]
        #expect(Self.plan(Self.status(voters: [1, 2, 3], learners: [4]), four, caughtUp: [4]) == nil)
        #expect(Self.plan(Self.status(voters: [1, 2, 3], learners: [4]), four, caughtUp: [4], target: 5) == nil)
        let five = four + [View(raftID: 5, health: .alive)]
        #expect(Self.plan(Self.status(voters: [1, 2, 3], learners: [4, 5]), five, caughtUp: [4, 5], target: 5) == .promote(4))
    }

    @Test("a member that left is removed at once; a dead one only after the grace period; never the leader itself")
    func removals() {
        let status = Self.status(voters: [1, 2, 3], learners: [4])
        #expect(Self.plan(status, [View(raftID: 3, health: .left)]) == .remove(3, reason: "left the cluster"))
        #expect(Self.plan(status, [View(raftID: 3, health: .dead(for: .seconds(10)))]) == nil)
        #expect(Self.plan(status, [View(raftID: 3, health: .dead(for: .seconds(31)))]) == .remove(3, reason: "dead for 31 s"))
        #expect(Self.plan(status, [View(raftID: 1, health: .dead(for: .seconds(99)))]) == nil)
    }

    @Test("after a dead voter is removed, a caught-up learner takes its place")
    func replacement() {
        let peers = [View(raftID: 2, health: .alive), View(raftID: 4, health: .alive)]
        #expect(Self.plan(Self.status(voters: [1, 2], learners: [4]), peers, caughtUp: [4]) == .promote(4))
    }
}
