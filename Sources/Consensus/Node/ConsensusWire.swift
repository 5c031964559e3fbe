// Frames the consensus shell exchanges, beside the Raft messages themselves:
//   version u8 | kind u8 | payload
// kind 1: a Raft message (its own codec); kind 2: proposals forwarded to the leader (count, blobs);
// kind 3: one piece of a frame too large for the transport (a big snapshot): id, offset, total, blob.
// The receiver reassembles the pieces in order and handles the whole frame only once it is complete.
// Log entry data for a proposal is an envelope naming the request (origin, boot nonce, sequence)
// so the peer that holds the waiter can answer it once its own store applied the entry.

enum ConsensusFrame: Equatable {
    static let version: UInt8 = 1
    /// Forwarded proposals per frame, so one frame stays far below the transport's size limit.
    static let maxForwardBytes = 1 << 20

    /// Largest frame the receiver reassembles from chunks; beyond it the pieces are dropped.
    static let maxAssembledBytes = 1 << 32

    case raft(RaftMessage)
    case forward([[UInt8]])
    case chunk(FrameChunk)

    private enum Kind: UInt8 {
        case raft = 1
        case forward = 2
        case chunk = 3
    }

    /// `frame` as it goes on the wire: itself, or chunks of at most `limit` bytes of it when larger.
    static func split(_ frame: [UInt8], id: UInt64, limit: Int) -> [[UInt8]] {
        guard frame.count > limit else { return [frame] }
        var out: [[UInt8]] = []
        var offset = 0
        while offset < frame.count {
            let end = min(frame.count, offset + max(1, limit))
            out.append(ConsensusFrame.chunk(FrameChunk(id: id, offset: UInt64(offset), total: UInt64(frame.count), bytes: Array(frame[offset..<end]))).encode())
            offset = end
        }
        return out
    }

    /// A heartbeat's answer, told from the frame's header without decoding it.
    static func isHeartbeatResponse(_ frame: [UInt8]) -> Bool {
        frame.count >= 4 && frame[0] == version && frame[1] == Kind.raft.rawValue && RaftMessage.isHeartbeatResponse(frame[2...])
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
        case .chunk(let c):
            var w = RaftWireWriter()
            w.bytes.reserveCapacity(c.bytes.count + 32)
            w.u8(Self.version)
            w.u8(Kind.chunk.rawValue)
            w.varint(c.id)
            w.varint(c.offset)
            w.varint(c.total)
            w.blob(c.bytes)
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
        case .chunk:
            let chunk = FrameChunk(id: try r.varint(), offset: try r.varint(), total: try r.varint(), bytes: try r.blob())
            try r.finish()
            self = .chunk(chunk)
        case nil:
            throw .unknownTag(tag)
        }
    }
}

/// A piece of a frame larger than the transport carries: bytes `offset..<offset+bytes.count` of a frame of
/// `total` bytes, which the sender numbered `id`.
struct FrameChunk: Equatable {
    var id: UInt64
    var offset: UInt64
    var total: UInt64
    var bytes: [UInt8]
}

/// Puts chunked frames back together, one frame at a time per sender. The transport keeps a sender's
/// frames in order, so anything out of order means pieces were lost: that frame is dropped (Raft resends).
struct FrameAssembler {
    private struct Partial {
        var id: UInt64
        var total: Int
        var bytes: [UInt8]
    }
    private var partial: [UInt64: Partial] = [:]

    /// The whole frame once `chunk` completes it.
    mutating func add(_ chunk: FrameChunk, from sender: UInt64) -> [UInt8]? {
        var current = partial.removeValue(forKey: sender)
        if chunk.offset == 0 {
            guard chunk.total <= UInt64(ConsensusFrame.maxAssembledBytes) else { return nil }
            var bytes: [UInt8] = []
            bytes.reserveCapacity(Int(chunk.total))
            current = Partial(id: chunk.id, total: Int(chunk.total), bytes: bytes)
        }
        guard var p = current, p.id == chunk.id, UInt64(p.total) == chunk.total, UInt64(p.bytes.count) == chunk.offset,
              p.bytes.count + chunk.bytes.count <= p.total, !chunk.bytes.isEmpty else { return nil }
        p.bytes += chunk.bytes
        if p.bytes.count == p.total { return p.bytes }
        partial[sender] = p
        return nil
    }

    mutating func forget(_ sender: UInt64) { partial[sender] = nil }
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
