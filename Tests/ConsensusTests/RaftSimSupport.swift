import Consensus
import Simulation

/// A tiny Raft storage on a simulated disk. Only what was fsynced (or renamed into place after an
/// fsync) survives a crash; a torn log tail is cut off at the first bad record on recovery.
///
/// Files: "hard" (hard state), "snap" (snapshot), "log" (a base record naming the snapshot the log
/// continues from, then one record per entry; each record is a 4-byte little-endian length + body).
struct SimRaftStorage {
    let disk: SimDisk
    var baseIndex: UInt64 = 0
    var baseTerm: UInt64 = 0
    var entries: [RaftEntry] = []
    /// Byte offset of each entry's record, parallel to `entries`.
    var offsets: [Int] = []
    var logSize = 0

    init(disk: SimDisk) { self.disk = disk }

    static func record(_ body: [UInt8]) -> [UInt8] {
        let n = UInt32(body.count)
        return [UInt8(n & 0xff), UInt8((n >> 8) & 0xff), UInt8((n >> 16) & 0xff), UInt8(n >> 24)] + body
    }

    static func baseBody(_ index: UInt64, _ term: UInt64) -> [UInt8] {
        RaftHardState(term: term, votedFor: 0, commit: index).encode()
    }

    /// Parses records until the first one that is cut short or does not decode.
    static func parseRecords(_ bytes: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var i = 0
        while bytes.count - i >= 4 {
            let n = Int(bytes[i]) | Int(bytes[i + 1]) << 8 | Int(bytes[i + 2]) << 16 | Int(bytes[i + 3]) << 24
            guard n <= bytes.count - i - 4 else { break }
            out.append(Array(bytes[(i + 4)..<(i + 4 + n)]))
            i += 4 + n
        }
        return out
    }

    func replaceDurably(_ name: String, _ bytes: [UInt8]) throws {
        try disk.write(name + ".tmp", bytes)
        try disk.fsync(name + ".tmp")
        try disk.rename(name + ".tmp", to: name)
    }

    /// Recovers what survived and rewrites the log cleanly so offsets are known again.
    mutating func load() throws -> RaftPersistentState {
        var hard = RaftHardState()
        if disk.exists("hard"), let h = try? RaftHardState(decoding: disk.read("hard")) { hard = h }
        var snap: RaftSnapshot?
        if disk.exists("snap") { snap = try? RaftSnapshot(decoding: disk.read("snap")) }
        var recovered: [RaftEntry] = []
        var bIndex: UInt64 = 0
        var bTerm: UInt64 = 0
        if disk.exists("log") {
            let recs = Self.parseRecords(try disk.read("log"))
            if let first = recs.first, let b = try? RaftHardState(decoding: first) {
                bIndex = b.commit
                bTerm = b.term
                var next = bIndex + 1
                for r in recs.dropFirst() {
                    guard let e = try? RaftEntry(decoding: r), e.index == next else { break }
                    recovered.append(e)
                    next += 1
                }
            }
        }
        if let s = snap, bIndex < s.index {
            // The log must run through the snapshot point consistently, or it belongs to an older history.
            if recovered.contains(where: { $0.index == s.index && $0.term == s.term }) {
                recovered.removeAll { $0.index <= s.index }
            } else {
                recovered = []
            }
            bIndex = s.index
            bTerm = s.term
        }
        try rewriteLog(baseIndex: bIndex, baseTerm: bTerm, entries: recovered)
        return RaftPersistentState(hardState: hard, snapshot: snap, entries: recovered)
    }

    mutating func rewriteLog(baseIndex: UInt64, baseTerm: UInt64, entries: [RaftEntry]) throws {
        var bytes = Self.record(Self.baseBody(baseIndex, baseTerm))
        var offs: [Int] = []
        for e in entries {
            offs.append(bytes.count)
            bytes += Self.record(e.encode())
        }
        try replaceDurably("log", bytes)
        self.baseIndex = baseIndex
        self.baseTerm = baseTerm
        self.entries = entries
        self.offsets = offs
        self.logSize = bytes.count
    }

    /// Step 1a of the Ready contract: unsynced log writes (a crash before `sync` may lose them).
    mutating func write(_ rd: RaftReady) throws {
        guard rd.snapshot == nil else { return }  // handled wholesale in `sync`
        if let t = rd.truncateFrom, let pos = entries.firstIndex(where: { $0.index >= t }) {
            try disk.truncate("log", to: offsets[pos])
            logSize = offsets[pos]
            entries.removeSubrange(pos...)
            offsets.removeSubrange(pos...)
        }
        var bytes: [UInt8] = []
        for e in rd.entries {
            offsets.append(logSize + bytes.count)
            entries.append(e)
            bytes += Self.record(e.encode())
        }
        if !bytes.isEmpty {
            try disk.append("log", bytes)
            logSize += bytes.count
        }
    }

    /// Step 1b: make everything of `rd` durable.
    mutating func sync(_ rd: RaftReady) throws {
        if let s = rd.snapshot {
            // Snapshot first, so acknowledged data is never lost; then a log continuing from it.
            try replaceDurably("snap", s.encode())
            try rewriteLog(baseIndex: s.index, baseTerm: s.term, entries: rd.entries)
        } else {
            try disk.fsync("log")
        }
        if let h = rd.hardState { try replaceDurably("hard", h.encode()) }
    }

    func saveSnapshot(_ s: RaftSnapshot) throws {
        try replaceDurably("snap", s.encode())
    }
}

// MARK: - The KV state machine and its operations

enum KVKind: UInt8, Sendable { case put = 1, get = 2, cas = 3 }

struct KVCommand: Sendable, Equatable {
    var kind: KVKind
    var key: UInt8
    var opID: UInt64
    var value: UInt64
    var expected: UInt64

    func encode() -> [UInt8] {
        var b: [UInt8] = [kind.rawValue, key]
        for v in [opID, value, expected] { for s in stride(from: 0, to: 64, by: 8) { b.append(UInt8((v >> UInt64(s)) & 0xff)) } }
        return b
    }

    init(kind: KVKind, key: UInt8, opID: UInt64, value: UInt64 = 0, expected: UInt64 = 0) {
        self.kind = kind
        self.key = key
        self.opID = opID
        self.value = value
        self.expected = expected
    }

    init?(decoding b: [UInt8]) {
        guard b.count == 26, let k = KVKind(rawValue: b[0]) else { return nil }
        func u64(_ at: Int) -> UInt64 { (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[at + $1]) << UInt64(8 * $1) } }
        self.init(kind: k, key: b[1], opID: u64(2), value: u64(10), expected: u64(18))
    }
}

struct KVStateMachine: Sendable, Equatable {
    static let keys = 3
    var values = [UInt64](repeating: 0, count: keys)

    /// Returns the op's output: 1/0 for CAS success, the value for gets, 0 for puts.
    mutating func apply(_ c: KVCommand) -> UInt64 {
        let k = Int(c.key) % Self.keys
        switch c.kind {
        case .put:
            values[k] = c.value
            return 0
        case .get:
            return values[k]
        case .cas:
            guard values[k] == c.expected else { return 0 }
            values[k] = c.value
            return 1
        }
    }

    func encode() -> [UInt8] {
        values.flatMap { v in (0..<8).map { UInt8((v >> UInt64(8 * $0)) & 0xff) } }
    }

    init() {}

    init?(decoding b: [UInt8]) {
        guard b.count == Self.keys * 8 else { return nil }
        values = (0..<Self.keys).map { i in (0..<8).reduce(UInt64(0)) { $0 | UInt64(b[i * 8 + $1]) << UInt64(8 * $1) } }
    }
}

/// The sequential spec of one register per key, for the shared linearizability checker.
struct RaftKVModel: LinearizabilityModel {
    var initialState: UInt64 { 0 }

    func partition(of input: KVCommand) -> UInt8 { input.key }

    func step(_ state: UInt64, _ input: KVCommand, _ output: UInt64?) -> UInt64? {
        switch input.kind {
        case .put:
            return input.value
        case .get:
            if let o = output, o != state { return nil }
            return state
        case .cas:
            let ok: UInt64 = state == input.expected ? 1 : 0
            if let o = output, o != ok { return nil }
            return ok == 1 ? input.value : state
        }
    }

    func isReadOnly(_ input: KVCommand) -> Bool { input.kind == .get }
}
