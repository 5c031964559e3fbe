@testable import Consensus
import Testing

/// An idle leader lets heartbeats' answers wait for its next heartbeat turn; the inbound path tells them from
/// every other frame by the header alone, so no other message is ever held back.
@Suite struct HeartbeatAnswerTests {
    static let bodies: [RaftMessage.Body] = [
        .preVote(lastIndex: 3, lastTerm: 2), .preVoteResponse(granted: true),
        .vote(lastIndex: 3, lastTerm: 2, leadershipTransfer: false), .voteResponse(granted: false),
        .append(prevIndex: 4, prevTerm: 3, commit: 4, entries: [RaftEntry(term: 9, index: 5, data: [1, 2])]),
        .appendResponse(success: true, index: 5, hintIndex: 0, hintTerm: 0),
        .heartbeat(commit: 5, readSequence: 7), .heartbeatResponse(readSequence: 0), .heartbeatResponse(readSequence: 300),
        .timeoutNow, .readIndex(context: [9]), .readIndexResponse(index: 5, context: [9]),
    ]

    @Test("only a heartbeat's answer is recognised, whatever its read sequence")
    func recognisesHeartbeatAnswers() {
        for body in Self.bodies {
            let frame = ConsensusFrame.raft(RaftMessage(from: 2, to: 1, term: 9, body: body)).encode()
            let isAnswer: Bool = if case .heartbeatResponse = body { true } else { false }
            #expect(ConsensusFrame.isHeartbeatResponse(frame) == isAnswer, "\(body)")
        }
        #expect(!ConsensusFrame.isHeartbeatResponse(ConsensusFrame.forward([[1, 2, 3]]).encode()))
    }

    @Test("short or foreign frames are not answers")
    func garbage() {
        let answer = ConsensusFrame.raft(RaftMessage(from: 2, to: 1, term: 9, body: .heartbeatResponse(readSequence: 0))).encode()
        for cut in 0..<4 { #expect(!ConsensusFrame.isHeartbeatResponse(Array(answer[..<cut]))) }
        var otherVersion = answer
        otherVersion[0] &+= 1
        #expect(!ConsensusFrame.isHeartbeatResponse(otherVersion))
    }
}
