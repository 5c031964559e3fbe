// Compact binary codec: a version byte, then LEB128 varints and length-prefixed byte strings.
// Decoding never traps: every read is bounds checked and lengths are checked against what remains.

public enum RaftCodecError: Error, Sendable, Equatable {
    case truncated
    case unsupportedVersion(UInt8)
    case unknownTag(UInt8)
    case varintOverflow
    case trailingBytes
    case invalidValue
}

public enum RaftWire {
    public static let version: UInt8 = 1
}

struct RaftWireWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func blob(_ b: [UInt8]) {
        varint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    mutating func ids(_ list: [UInt64]) {
        varint(UInt64(list.count))
        for id in list { varint(id) }
    }

    mutating func entry(_ e: RaftEntry) {
        varint(e.term)
        varint(e.index)
        u8(e.kind.rawValue)
        blob(e.data)
    }

    mutating func membership(_ m: RaftMembership) {
        ids(m.voters)
        ids(m.learners)
    }

    mutating func snapshot(_ s: RaftSnapshot) {
        varint(s.index)
        varint(s.term)
        membership(s.membership)
        blob(s.data)
    }
}

struct RaftWireReader {
    let bytes: [UInt8]
    var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func u8() throws(RaftCodecError) -> UInt8 {
        guard offset < bytes.count else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func bool() throws(RaftCodecError) -> Bool {
        switch try u8() {
        case 0: return false
        case 1: return true
        default: throw .invalidValue
        }
    }

    mutating func varint() throws(RaftCodecError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            // The 10th byte may only contribute the top bit.
            if shift == 63 && b > 1 { throw .varintOverflow }
            result |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .varintOverflow }
        }
    }

    mutating func count() throws(RaftCodecError) -> Int {
        let n = try varint()
        guard n <= UInt64(remaining) else { throw .truncated }
        return Int(n)
    }

    mutating func blob() throws(RaftCodecError) -> [UInt8] {
        let n = try count()
        defer { offset += n }
        return Array(bytes[offset..<offset + n])
    }

    mutating func ids() throws(RaftCodecError) -> [UInt64] {
        let n = try count()
        var out: [UInt64] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try varint()) }
        return out
    }

    mutating func entry() throws(RaftCodecError) -> RaftEntry {
        let term = try varint()
        let index = try varint()
        guard let kind = RaftEntryKind(rawValue: try u8()) else { throw .invalidValue }
        return RaftEntry(term: term, index: index, kind: kind, data: try blob())
    }

    mutating func membership() throws(RaftCodecError) -> RaftMembership {
        let voters = try ids()
        let learners = try ids()
        return RaftMembership(voters: voters, learners: learners)
    }

    mutating func snapshot() throws(RaftCodecError) -> RaftSnapshot {
        let index = try varint()
        let term = try varint()
        let m = try membership()
        return RaftSnapshot(index: index, term: term, membership: m, data: try blob())
    }

    mutating func version() throws(RaftCodecError) {
        let v = try u8()
        guard v == RaftWire.version else { throw .unsupportedVersion(v) }
    }

    func finish() throws(RaftCodecError) {
        guard remaining == 0 else { throw .trailingBytes }
    }
}

extension RaftEntry {
    public func encode() -> [UInt8] {
        var w = RaftWireWriter()
        w.u8(RaftWire.version)
        w.entry(self)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(RaftCodecError) {
        var r = RaftWireReader(bytes)
        try r.version()
        self = try r.entry()
        try r.finish()
    }
}

extension RaftMembership {
    public func encode() -> [UInt8] {
        var w = RaftWireWriter()
        w.u8(RaftWire.version)
        w.membership(self)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(RaftCodecError) {
        var r = RaftWireReader(bytes)
        try r.version()
        self = try r.membership()
        try r.finish()
    }
}

extension RaftSnapshot {
    public func encode() -> [UInt8] {
        var w = RaftWireWriter()
        w.u8(RaftWire.version)
        w.snapshot(self)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(RaftCodecError) {
        var r = RaftWireReader(bytes)
        try r.version()
        self = try r.snapshot()
        try r.finish()
    }
}

extension RaftHardState {
    public func encode() -> [UInt8] {
        var w = RaftWireWriter()
        w.u8(RaftWire.version)
        w.varint(term)
        w.varint(votedFor)
        w.varint(commit)
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(RaftCodecError) {
        var r = RaftWireReader(bytes)
        try r.version()
        self.init(term: try r.varint(), votedFor: try r.varint(), commit: try r.varint())
        try r.finish()
    }
}

extension RaftMessage {
    private enum Tag: UInt8 {
        case preVote = 1, preVoteResponse, vote, voteResponse, append, appendResponse,
             heartbeat, heartbeatResponse, installSnapshot, timeoutNow, readIndex, readIndexResponse
    }

    /// Whether an encoded message is a heartbeat's answer, read from its header alone.
    static func isHeartbeatResponse(_ bytes: ArraySlice<UInt8>) -> Bool {
        bytes.count >= 2 && bytes[bytes.startIndex] == RaftWire.version && bytes[bytes.startIndex + 1] == Tag.heartbeatResponse.rawValue
    }

    public func encode() -> [UInt8] {
        var w = RaftWireWriter()
        w.u8(RaftWire.version)
        func header(_ tag: Tag) {
            w.u8(tag.rawValue)
            w.varint(from)
            w.varint(to)
            w.varint(term)
        }
        switch body {
        case .preVote(let li, let lt):
            header(.preVote); w.varint(li); w.varint(lt)
        case .preVoteResponse(let g):
            header(.preVoteResponse); w.bool(g)
        case .vote(let li, let lt, let transfer):
            header(.vote); w.varint(li); w.varint(lt); w.bool(transfer)
        case .voteResponse(let g):
            header(.voteResponse); w.bool(g)
        case .append(let pi, let pt, let c, let entries):
            header(.append); w.varint(pi); w.varint(pt); w.varint(c)
            w.varint(UInt64(entries.count))
            for e in entries { w.entry(e) }
        case .appendResponse(let s, let i, let hi, let ht):
            header(.appendResponse); w.bool(s); w.varint(i); w.varint(hi); w.varint(ht)
        case .heartbeat(let c, let r):
            header(.heartbeat); w.varint(c); w.varint(r)
        case .heartbeatResponse(let r):
            header(.heartbeatResponse); w.varint(r)
        case .installSnapshot(let s):
            header(.installSnapshot); w.snapshot(s)
        case .timeoutNow:
            header(.timeoutNow)
        case .readIndex(let ctx):
            header(.readIndex); w.blob(ctx)
        case .readIndexResponse(let i, let ctx):
            header(.readIndexResponse); w.varint(i); w.blob(ctx)
        }
        return w.bytes
    }

    public init(decoding bytes: [UInt8]) throws(RaftCodecError) {
        var r = RaftWireReader(bytes)
        try r.version()
        let rawTag = try r.u8()
        guard let tag = Tag(rawValue: rawTag) else { throw .unknownTag(rawTag) }
        let from = try r.varint()
        let to = try r.varint()
        let term = try r.varint()
        let body: Body
        switch tag {
        case .preVote:
            body = .preVote(lastIndex: try r.varint(), lastTerm: try r.varint())
        case .preVoteResponse:
            body = .preVoteResponse(granted: try r.bool())
        case .vote:
            body = .vote(lastIndex: try r.varint(), lastTerm: try r.varint(), leadershipTransfer: try r.bool())
        case .voteResponse:
            body = .voteResponse(granted: try r.bool())
        case .append:
            let pi = try r.varint()
            let pt = try r.varint()
            let c = try r.varint()
            let n = try r.count()
            var entries: [RaftEntry] = []
            entries.reserveCapacity(n)
            for _ in 0..<n { entries.append(try r.entry()) }
            body = .append(prevIndex: pi, prevTerm: pt, commit: c, entries: entries)
        case .appendResponse:
            body = .appendResponse(success: try r.bool(), index: try r.varint(),
                                   hintIndex: try r.varint(), hintTerm: try r.varint())
        case .heartbeat:
            body = .heartbeat(commit: try r.varint(), readSequence: try r.varint())
        case .heartbeatResponse:
            body = .heartbeatResponse(readSequence: try r.varint())
        case .installSnapshot:
            body = .installSnapshot(try r.snapshot())
        case .timeoutNow:
            body = .timeoutNow
        case .readIndex:
            body = .readIndex(context: try r.blob())
        case .readIndexResponse:
            body = .readIndexResponse(index: try r.varint(), context: try r.blob())
        }
        try r.finish()
        self.init(from: from, to: to, term: term, body: body)
    }
}
