import Consensus
import Simulation
import Testing

@Suite struct RaftCodecTests {
    static func sampleMessages() -> [RaftMessage] {
        let e1 = RaftEntry(term: 3, index: 7, kind: .normal, data: [1, 2, 3])
        let e2 = RaftEntry(term: 3, index: 8, kind: .configChange, data: RaftMembership(voters: [1, 2], learners: [9]).encode())
        let e3 = RaftEntry(term: 4, index: 9, kind: .noop, data: [])
        let snap = RaftSnapshot(index: 300, term: 9, membership: RaftMembership(voters: [1, 2, 3], learners: [4]),
                                data: Array(repeating: 0xAB, count: 200))
        let bodies: [RaftMessage.Body] = [
            .preVote(lastIndex: 10, lastTerm: 2),
            .preVoteResponse(granted: true),
            .vote(lastIndex: .max, lastTerm: 1 << 40, leadershipTransfer: true),
            .voteResponse(granted: false),
            .append(prevIndex: 6, prevTerm: 3, commit: 5, entries: [e1, e2, e3]),
            .append(prevIndex: 0, prevTerm: 0, commit: 0, entries: []),
            .appendResponse(success: false, index: 12, hintIndex: 4, hintTerm: 2),
            .heartbeat(commit: 99, readSequence: 12345),
            .heartbeatResponse(readSequence: 12345),
            .installSnapshot(snap),
            .timeoutNow,
            .readIndex(context: [9, 9, 9]),
            .readIndexResponse(index: 77, context: []),
        ]
        return bodies.enumerated().map { i, b in
            RaftMessage(from: UInt64(i + 1), to: 1 << 63, term: UInt64(i) * 1000, body: b)
        }
    }

    @Test func messagesRoundTrip() throws {
        for m in Self.sampleMessages() {
            let bytes = m.encode()
            #expect(bytes.first == RaftWire.version)
            #expect(try RaftMessage(decoding: bytes) == m)
        }
    }

    @Test func entriesSnapshotsAndHardStateRoundTrip() throws {
        let e = RaftEntry(term: 1 << 33, index: 5, kind: .configChange, data: [0, 255])
        #expect(try RaftEntry(decoding: e.encode()) == e)
        let s = RaftSnapshot(index: 4, term: 2, membership: RaftMembership(voters: [3, 1]), data: [7])
        #expect(try RaftSnapshot(decoding: s.encode()) == s)
        let h = RaftHardState(term: 8, votedFor: 2, commit: 77)
        #expect(try RaftHardState(decoding: h.encode()) == h)
        let m = RaftMembership(voters: [5, 1, 3], learners: [4])
        #expect(try RaftMembership(decoding: m.encode()) == m)
    }

    @Test func truncatedInputThrows() {
        for m in Self.sampleMessages() {
            let bytes = m.encode()
            for cut in 0..<bytes.count {
                #expect(throws: RaftCodecError.self) { try RaftMessage(decoding: Array(bytes[..<cut])) }
            }
            #expect(throws: RaftCodecError.trailingBytes) { try RaftMessage(decoding: bytes + [0]) }
        }
    }

    @Test func unknownVersionAndTagThrow() {
        var bytes = RaftMessage(from: 1, to: 2, term: 3, body: .timeoutNow).encode()
        bytes[0] = 99
        #expect(throws: RaftCodecError.unsupportedVersion(99)) { try RaftMessage(decoding: bytes) }
        #expect(throws: RaftCodecError.unknownTag(200)) { try RaftMessage(decoding: [RaftWire.version, 200, 1, 2, 3]) }
        // An 11-byte varint cannot be a UInt64.
        #expect(throws: RaftCodecError.varintOverflow) {
            try RaftHardState(decoding: [RaftWire.version] + Array(repeating: 0xFF, count: 10) + [0x01])
        }
    }

    @Test func randomGarbageNeverCrashes() {
        var rng = SeededRandom(seed: 7)
        var decoded = 0
        for round in 0..<20_000 {
            var bytes = rng.bytes(count: rng.int(in: 0...64))
            // Half the inputs start like a real message so decoding gets past the header.
            if round % 2 == 0, !bytes.isEmpty { bytes[0] = RaftWire.version }
            if let m = try? RaftMessage(decoding: bytes) {
                decoded += 1
                #expect(m.encode().count <= bytes.count)
            }
            _ = try? RaftEntry(decoding: bytes)
            _ = try? RaftSnapshot(decoding: bytes)
            _ = try? RaftHardState(decoding: bytes)
        }
        // Mutating single bytes of valid encodings must also be handled.
        for m in Self.sampleMessages() {
            let bytes = m.encode()
            for _ in 0..<200 {
                var b = bytes
                b[rng.int(in: 0..<b.count)] = UInt8(truncatingIfNeeded: rng.next())
                if let d = try? RaftMessage(decoding: b) { decoded += 1; _ = d.encode() }
            }
        }
        #expect(decoded > 0)
    }

    @Test func hugeLengthPrefixIsRejectedWithoutAllocating() {
        // readIndex with a context length of 2^62 and no bytes behind it.
        var w: [UInt8] = [RaftWire.version, 11, 1, 2, 3]
        w += [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40]
        #expect(throws: RaftCodecError.truncated) { try RaftMessage(decoding: w) }
    }
}
