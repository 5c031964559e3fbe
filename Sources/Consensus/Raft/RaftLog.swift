// The in-memory view of the log after the last snapshot, plus what the shell has been handed.

struct RaftLog: Sendable {
    private(set) var snapshotIndex: UInt64
    private(set) var snapshotTerm: UInt64
    private(set) var entries: [RaftEntry]
    var committed: UInt64
    var applied: UInt64
    /// Highest index known to be durable locally (acknowledged through `advance`).
    var persisted: UInt64
    /// First index not yet handed to the shell for persistence.
    var unstableFrom: UInt64
    /// The shell must delete persisted entries from here on before appending (a conflict was repaired).
    var truncateFrom: UInt64?

    init(snapshotIndex: UInt64, snapshotTerm: UInt64, entries: [RaftEntry], committed: UInt64) {
        self.snapshotIndex = snapshotIndex
        self.snapshotTerm = snapshotTerm
        // Keep only a contiguous run starting right after the snapshot: storage is trusted but not blindly.
        var kept: [RaftEntry] = []
        var next = snapshotIndex + 1
        for e in entries where e.index >= next {
            guard e.index == next else { break }
            kept.append(e)
            next += 1
        }
        self.entries = kept
        let last = snapshotIndex + UInt64(kept.count)
        self.committed = min(max(committed, snapshotIndex), last)
        self.applied = snapshotIndex
        self.persisted = last
        self.unstableFrom = last + 1
        self.truncateFrom = nil
    }

    var firstIndex: UInt64 { snapshotIndex + 1 }
    var lastIndex: UInt64 { snapshotIndex + UInt64(entries.count) }
    var lastTerm: UInt64 { entries.last?.term ?? snapshotTerm }

    /// nil when the index is compacted away (below the snapshot) or beyond the end.
    func term(at index: UInt64) -> UInt64? {
        if index == snapshotIndex { return snapshotTerm }
        guard index > snapshotIndex, index <= lastIndex else { return nil }
        return entries[Int(index - snapshotIndex - 1)].term
    }

    func entry(at index: UInt64) -> RaftEntry? {
        guard index > snapshotIndex, index <= lastIndex else { return nil }
        return entries[Int(index - snapshotIndex - 1)]
    }

    func matches(index: UInt64, term: UInt64) -> Bool {
        self.term(at: index) == term
    }

    /// Entries in [from, through], stopping once `maxBytes` of payload is reached (at least one entry).
    func slice(from: UInt64, through: UInt64, maxBytes: Int = .max) -> [RaftEntry] {
        let lo = max(from, firstIndex)
        let hi = min(through, lastIndex)
        guard lo <= hi else { return [] }
        var out: [RaftEntry] = []
        var bytes = 0
        for i in lo...hi {
            let e = entries[Int(i - snapshotIndex - 1)]
            if !out.isEmpty && bytes + e.data.count > maxBytes { break }
            bytes += e.data.count
            out.append(e)
        }
        return out
    }

    /// First index of the run of `term` that contains `index` (for the reject hint).
    func firstIndex(ofTermAt index: UInt64) -> UInt64 {
        guard let t = term(at: index) else { return index }
        var i = index
        while i > firstIndex, term(at: i - 1) == t { i -= 1 }
        return i
    }

    /// Last index holding `term`, if this log has that term at all.
    func lastIndex(ofTerm t: UInt64, atOrBefore bound: UInt64) -> UInt64? {
        var i = min(bound, lastIndex)
        while i >= firstIndex {
            guard let ti = term(at: i) else { return nil }
            if ti == t { return i }
            if ti < t { return nil }
            i -= 1
        }
        return snapshotTerm == t ? snapshotIndex : nil
    }

    mutating func append(_ e: RaftEntry) {
        entries.append(e)
    }

    /// Drops entries at and after `index`; remembers to tell the shell if it may have persisted them.
    mutating func truncate(from index: UInt64) {
        guard index > snapshotIndex, index <= lastIndex else { return }
        entries.removeSubrange(Int(index - snapshotIndex - 1)...)
        if index < unstableFrom {
            truncateFrom = min(truncateFrom ?? index, index)
        }
        unstableFrom = min(unstableFrom, index)
        persisted = min(persisted, index - 1)
    }

    /// Replaces everything with a snapshot received from the leader.
    mutating func restore(index: UInt64, term: UInt64) {
        snapshotIndex = index
        snapshotTerm = term
        entries = []
        committed = index
        // Persisting a snapshot replaces the whole stored log, so no separate truncation is needed.
        truncateFrom = nil
        unstableFrom = index + 1
        persisted = min(persisted, index)
    }

    /// Drops entries up to and including `index` after the application took a snapshot there.
    mutating func compact(through index: UInt64) {
        guard index > snapshotIndex, index <= lastIndex, let t = term(at: index) else { return }
        entries.removeSubrange(..<Int(index - snapshotIndex))
        snapshotTerm = t
        snapshotIndex = index
    }

    func isUpToDate(lastIndex li: UInt64, lastTerm lt: UInt64) -> Bool {
        lt > lastTerm || (lt == lastTerm && li >= lastIndex)
    }
}

/// The leader's view of one follower's replication.
struct RaftProgress: Sendable {
    enum State: Sendable { case probe, replicate, snapshot }

    var match: UInt64 = 0
    var next: UInt64
    var state: State = .probe
    /// Probe: one append is out and we wait for its answer (or a heartbeat answer) before the next.
    var probeSent = false
    var pendingSnapshot: UInt64 = 0
    var snapshotTicks = 0
    /// Last entry index of each append in flight, oldest first.
    var inflight: [UInt64] = []
    /// Heard from within the current check-quorum window.
    var recentActive = false
    /// Highest ReadIndex round this follower has confirmed.
    var readAck: UInt64 = 0

    init(next: UInt64) { self.next = next }

    func isPaused(maxInflight: Int) -> Bool {
        switch state {
        case .probe: return probeSent
        case .replicate: return inflight.count >= maxInflight
        case .snapshot: return true
        }
    }

    mutating func becomeProbe() {
        if state == .snapshot {
            next = max(match + 1, pendingSnapshot + 1)
        } else {
            next = match + 1
        }
        state = .probe
        probeSent = false
        pendingSnapshot = 0
        inflight.removeAll()
    }

    mutating func becomeReplicate() {
        state = .replicate
        next = match + 1
        probeSent = false
        pendingSnapshot = 0
        inflight.removeAll()
    }

    mutating func becomeSnapshot(_ index: UInt64) {
        state = .snapshot
        pendingSnapshot = index
        snapshotTicks = 0
        probeSent = false
        inflight.removeAll()
    }

    mutating func freeInflight(through index: UInt64) {
        inflight.removeAll { $0 <= index }
    }
}
