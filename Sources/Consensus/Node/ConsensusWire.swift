// Frames the consensus shell exchanges, beside the Raft messages themselves:
//   version u8 | kind u8 | payload
// kind 1: a Raft message (its own codec); kind 2: proposals forwarded to the leader (count, blobs).
// Log entry data for a proposal is an envelope naming the request (origin, boot nonce, sequence)
// so the peer that holds the waiter can answer it once its own store applied the entry.

enum ConsensusFrame: Equatable {
    static let version: UInt8 = 1
    /// Forwarded proposals per frame, so one frame stays far below the transport's size limit.
    static let maxForwardBytes = 1 << 20

    case raft(RaftMessage)
    case forward([[UInt8]])

    private enum Kind: UInt8 {
        case raft = 1
        case forward = 2
    }

    func encode() -> [UInt8] {
        switch self {
        case .raft(let m):
            return [Self.version, Kind.raft.rawValue] + m.encode()
        case .forward(let envelopes):
            var w = RaftWireWriter()
            w.u8(Self.version)
            w.u8(Kind.forward.rawValue)
            w.varint(UInt64(envelopes.count))
            for e in envelopes { w.blob(e) }
            return w.bytes
        }
    }

    init(decoding bytes: [UInt8]) throws(RaftCodecError) {
        var r = RaftWireReader(bytes)
        let v = try r.u8()
        guard v == Self.version else { throw .unsupportedVersion(v) }
        let tag = try r.u8()
        switch Kind(rawValue: tag) {
        case .raft:
            self = .raft(try RaftMessage(decoding: Array(bytes[2...])))
        case .forward:
            // Each blob needs at least its length byte, which bounds the count.
            let n = try r.count()
            var out: [[UInt8]] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try r.blob()) }
            try r.finish()
            self = .forward(out)
        case nil:
            throw .unknownTag(tag)
        }
    }
}

/// Identifies one proposal across the cluster. `nonce` is drawn at each start so a sequence number
/// reused after a restart never answers a new waiter with an old entry's result.
struct ProposalID: Hashable {
    var origin: UInt64
    var nonce: UInt64
    var sequence: UInt64
}

enum ProposalEnvelope {
    static let version: UInt8 = 1

    static func encode(_ id: ProposalID, command: [UInt8]) -> [UInt8] {
        var w = RaftWireWriter()
        w.bytes.reserveCapacity(command.count + 24)
        w.u8(version)
        w.varint(id.origin)
        w.varint(id.nonce)
        w.varint(id.sequence)
        w.blob(command)
        return w.bytes
    }

    static func decode(_ bytes: [UInt8]) throws(RaftCodecError) -> (ProposalID, [UInt8]) {
        var r = RaftWireReader(bytes)
        let v = try r.u8()
        guard v == version else { throw .unsupportedVersion(v) }
        let id = ProposalID(origin: try r.varint(), nonce: try r.varint(), sequence: try r.varint())
        let command = try r.blob()
        try r.finish()
        return (id, command)
    }
}
