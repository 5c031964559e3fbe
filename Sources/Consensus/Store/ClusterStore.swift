/// A key with its value and revisions, as of the store revision it was read at.
public struct StoreKeyValue: Sendable, Hashable {
    public var key: String
    public var value: [UInt8]
    /// Revision of the write that created this incarnation of the key.
    public var createRevision: UInt64
    /// Revision of the last write to the key (Kubernetes' resourceVersion of the object).
    public var modRevision: UInt64
    /// Number of writes since creation; 1 after the creating put.
    public var version: UInt64

    public init(key: String, value: [UInt8], createRevision: UInt64, modRevision: UInt64, version: UInt64) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
    }
}

/// Outcome of applying a command. Rejected commands leave the store (and its revision) untouched,
/// so every replica applying the same log reaches the same state.
public enum StoreApplyResult: Sendable, Hashable {
    /// All operations took effect at `revision`.
    case applied(revision: UInt64)
    /// A guard failed. `currentModRevision` is 0 when the key does not exist.
    case conflict(key: String, currentModRevision: UInt64)
    /// An unguarded delete named a key that does not exist.
    case notFound(key: String)
    /// The command is malformed (undecodable bytes, empty key, empty batch, a key twice in one batch).
    case invalid(reason: String)
}

public enum StoreEventType: UInt8, Sendable, Hashable {
    case added = 1
    case modified = 2
    case deleted = 3
}

/// One change, in the order a watcher must see it. For `.deleted`, `kv.value` is empty and
/// `kv.modRevision` is the deleting revision; the last value is in `prevValue`.
public struct StoreEvent: Sendable, Hashable {
    public var type: StoreEventType
    public var kv: StoreKeyValue
    /// The value before this change (`nil` for `.added`).
    public var prevValue: [UInt8]?

    public var revision: UInt64 { kv.modRevision }

    public init(type: StoreEventType, kv: StoreKeyValue, prevValue: [UInt8]?) {
        self.type = type
        self.kv = kv
        self.prevValue = prevValue
    }
}

/// A page of a prefix range, all read at `revision`.
public struct StoreRangeResult: Sendable, Hashable {
    public var items: [StoreKeyValue]
    public var revision: UInt64
    /// Opaque token for the next page; `nil` when this page reached the end of the prefix.
    public var continueToken: String?
}

/// What a watcher follows.
public enum StoreWatchFilter: Sendable, Hashable {
    case key(String)
    case prefix(String)

    func matches(_ key: [UInt8]) -> Bool {
        switch self {
        case .key(let k): key.elementsEqual(k.utf8)
        case .prefix(let p): key.starts(with: p.utf8)
        }
    }
}

public enum StoreReadError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The events after `requested` are gone; resume from `oldestAvailable` or later after a fresh list
    /// (Kubernetes answers 410 Gone).
    case compacted(requested: UInt64, oldestAvailable: UInt64)
    case invalidContinueToken

    public var description: String {
        switch self {
        case .compacted(let requested, let oldest):
            "compacted: revision \(requested) is no longer in the watch history; the oldest available revision is \(oldest)"
        case .invalidContinueToken:
            "invalid continue token"
        }
    }
}

/// The events a pull returned, and where the next pull should start.
public struct StoreWatchBatch: Sendable, Hashable {
    public var events: [StoreEvent]
    /// Pass as `after` on the next pull. It moves past revisions scanned even when none matched.
    public var nextAfter: UInt64
}

/// The replicated key-value state machine behind the cluster state: a sorted key space under one
/// global revision, with per-key create/mod revisions and versions, compare-and-swap writes,
/// atomic batches, prefix ranges with pagination, and a bounded, pull-based watch history.
///
/// It is a value with no I/O, clock or randomness: the Raft shell feeds it committed commands in
/// log order (`apply`) and every replica ends in the same state. Reads run against the current
/// revision without copying the key space. Copying the value is O(1) and yields a frozen,
/// consistent view that another task may read; the owner's next write then pays one full copy,
/// so hand out such views sparingly (e.g. one per batch of reads), not per request.
public struct ClusterStore: Sendable {
    struct Record: Sendable {
        var key: String
        var value: [UInt8]
        var createRevision: UInt64
        var modRevision: UInt64
        var version: UInt64

        var keyValue: StoreKeyValue {
            StoreKeyValue(key: key, value: value, createRevision: createRevision, modRevision: modRevision, version: version)
        }
    }

    /// The revision of the last applied write; 0 for an empty, never-written store.
    public private(set) var revision: UInt64 = 0
    /// How many revisions of events the watch history keeps.
    public let historyRevisions: UInt64

    private var records: [[UInt8]: Record] = [:]
    private var keyIndex = SortedKeyIndex()
    private var history = EventRing()

    public init(historyRevisions: UInt64 = 10_000) {
        self.historyRevisions = max(1, historyRevisions)
    }

    public var count: Int { records.count }

    /// Events with revision ≤ this are gone; a watch may resume after any revision ≥ it.
    public var oldestWatchableRevision: UInt64 { history.compactedThrough }

    // MARK: Writes

    /// Decodes and applies a command from a Raft log entry. Undecodable bytes give `.invalid`
    /// (identically on every replica) instead of throwing.
    public mutating func apply(encoded bytes: [UInt8]) -> StoreApplyResult {
        do {
            return apply(try StoreCommand(decoding: bytes))
        } catch {
            return .invalid(reason: error.description)
        }
    }

    public mutating func apply(_ command: StoreCommand) -> StoreApplyResult {
        let operations = command.operations
        guard !operations.isEmpty else { return .invalid(reason: "empty batch") }
        var keys: [[UInt8]] = []
        keys.reserveCapacity(operations.count)
        for op in operations {
            let key = Array(op.key.utf8)
            guard !key.isEmpty else { return .invalid(reason: "empty key") }
            keys.append(key)
        }
        // Two writes to one key at one revision would make the watch history ambiguous.
        if keys.count > 1, Set(keys).count != keys.count {
            let duplicate = operations.first { op in operations.filter { $0.key == op.key }.count > 1 }?.key ?? ""
            return .invalid(reason: "key \(duplicate) appears twice in one batch")
        }
        // Check every guard before touching anything: a batch is all-or-nothing.
        for (op, key) in zip(operations, keys) {
            let current = records[key]
            if let expected = op.expectedModRevision {
                let actual = current?.modRevision ?? 0
                if actual != expected {
                    return .conflict(key: op.key, currentModRevision: actual)
                }
            }
            if case .delete = op, current == nil {
                return .notFound(key: op.key)
            }
        }
        let newRevision = revision + 1
        revision = newRevision
        for (op, key) in zip(operations, keys) {
            switch op {
            case .put(let keyString, let value, _):
                if var record = records[key] {
                    let prev = record.value
                    record.value = value
                    record.modRevision = newRevision
                    record.version += 1
                    records[key] = record
                    history.append(StoreEvent(type: .modified, kv: record.keyValue, prevValue: prev), key: key)
                } else {
                    let record = Record(key: keyString, value: value, createRevision: newRevision, modRevision: newRevision, version: 1)
                    records[key] = record
                    keyIndex.insert(key)
                    history.append(StoreEvent(type: .added, kv: record.keyValue, prevValue: nil), key: key)
                }
            case .delete:
                guard let record = records.removeValue(forKey: key) else { continue }  // guarded above
                keyIndex.remove(key)
                let tombstone = StoreKeyValue(
                    key: record.key, value: [], createRevision: record.createRevision,
                    modRevision: newRevision, version: record.version)
                history.append(StoreEvent(type: .deleted, kv: tombstone, prevValue: record.value), key: key)
            }
        }
        if newRevision > historyRevisions {
            history.compact(through: newRevision - historyRevisions)
        }
        return .applied(revision: newRevision)
    }

    // MARK: Reads

    public func get(_ key: String) -> StoreKeyValue? {
        records[Array(key.utf8)]?.keyValue
    }

    /// Keys starting with `prefix` in byte order, at most `limit` per page (`nil` = all).
    /// Each page is consistent at its own `revision`; a continued list may see writes made between pages.
    public func range(prefix: String, limit: Int? = nil, continueToken: String? = nil) throws(StoreReadError) -> StoreRangeResult {
        let prefixBytes = Array(prefix.utf8)
        var position: SortedKeyIndex.Position
        if let continueToken {
            guard let after = Self.decodeContinueToken(continueToken), after.starts(with: prefixBytes) else {
                throw .invalidContinueToken
            }
            position = keyIndex.lowerBound(after)
            if keyIndex.key(at: position) == after { position = keyIndex.position(after: position) }
        } else {
            position = keyIndex.lowerBound(prefixBytes)
        }
        let pageLimit = limit.map { max(1, $0) } ?? Int.max
        var items: [StoreKeyValue] = []
        while let key = keyIndex.key(at: position), key.starts(with: prefixBytes) {
            if items.count == pageLimit {
                return StoreRangeResult(
                    items: items, revision: revision,
                    continueToken: Self.encodeContinueToken(Array(items[items.count - 1].key.utf8)))
            }
            if let record = records[key] { items.append(record.keyValue) }
            position = keyIndex.position(after: position)
        }
        return StoreRangeResult(items: items, revision: revision, continueToken: nil)
    }

    /// Number of keys under `prefix`, without materializing them.
    public func count(prefix: String) -> Int {
        let prefixBytes = Array(prefix.utf8)
        var position = keyIndex.lowerBound(prefixBytes)
        var n = 0
        while let key = keyIndex.key(at: position), key.starts(with: prefixBytes) {
            n += 1
            position = keyIndex.position(after: position)
        }
        return n
    }

    // MARK: Watch

    /// Events after revision `after` that match `filter`, in revision order. Stops at a revision
    /// boundary once `limit` events are collected, so a batch's events are never split across pulls.
    /// Throws `.compacted` when the history no longer reaches back to `after`.
    public func events(after: UInt64, matching filter: StoreWatchFilter, limit: Int = Int.max) throws(StoreReadError) -> StoreWatchBatch {
        guard after >= history.compactedThrough else {
            throw .compacted(requested: after, oldestAvailable: history.compactedThrough)
        }
        var events: [StoreEvent] = []
        var position = history.firstIndex(afterRevision: after)
        var nextAfter = after
        let cap = max(1, limit)
        while position < history.endIndex {
            let entry = history[position]
            if events.count >= cap, entry.event.revision != nextAfter { break }
            if filter.matches(entry.key) { events.append(entry.event) }
            nextAfter = entry.event.revision
            position += 1
        }
        if position == history.endIndex { nextAfter = max(nextAfter, revision) }
        return StoreWatchBatch(events: events, nextAfter: nextAfter)
    }

    // MARK: Continue tokens

    static func encodeContinueToken(_ key: [UInt8]) -> String {
        let digits: [UInt8] = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(key.count * 2)
        for byte in key {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decodeContinueToken(_ token: String) -> [UInt8]? {
        let chars = Array(token.utf8)
        guard !chars.isEmpty, chars.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            default: nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        var i = 0
        while i < chars.count {
            guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}

/// A watcher's position: pull repeatedly to follow a key or prefix. Pure; the shell decides when to pull
/// (e.g. after each applied batch) and what to do with `.compacted` (Kubernetes: 410 Gone, relist).
public struct StoreWatchCursor: Sendable, Hashable {
    public let filter: StoreWatchFilter
    /// Events at or before this revision were already returned.
    public private(set) var after: UInt64

    public init(filter: StoreWatchFilter, after revision: UInt64) {
        self.filter = filter
        self.after = revision
    }

    /// Events since the last pull, advancing the cursor past them.
    public mutating func pull(from store: ClusterStore, limit: Int = Int.max) throws(StoreReadError) -> [StoreEvent] {
        let batch = try store.events(after: after, matching: filter, limit: limit)
        after = batch.nextAfter
        return batch.events
    }
}

// MARK: Snapshot

// Layout (little-endian): version u8 (=1) | revision u64 | count u64 |
//   count × (key blob | value blob | createRevision u64 | modRevision u64 | version u64), keys in byte order.
extension ClusterStore {
    static let snapshotVersion: UInt8 = 1

    /// The whole key space and the current revision, for a Raft snapshot. Watch history is not included.
    public func snapshot() -> [UInt8] {
        var w = StoreBytesWriter(reservingCapacity: 17 + records.count * 64)
        w.writeUInt8(Self.snapshotVersion)
        w.writeUInt64(revision)
        w.writeUInt64(UInt64(keyIndex.count))
        var position = keyIndex.startPosition
        while let key = keyIndex.key(at: position) {
            position = keyIndex.position(after: position)
            guard let record = records[key] else { continue }
            w.writeBlob(key)
            w.writeBlob(record.value)
            w.writeUInt64(record.createRevision)
            w.writeUInt64(record.modRevision)
            w.writeUInt64(record.version)
        }
        return w.bytes
    }

    /// Rebuilds a store from `snapshot()` bytes. The watch history restarts at the snapshot revision:
    /// watchers behind it get `.compacted` and must list again.
    public init(restoring bytes: [UInt8], historyRevisions: UInt64 = 10_000) throws(StoreCodecError) {
        self.init(historyRevisions: historyRevisions)
        var r = StoreBytesReader(bytes)
        guard let version = r.readUInt8() else { throw .truncated(what: "snapshot version") }
        guard version == Self.snapshotVersion else { throw .unsupportedVersion(version) }
        guard let revision = r.readUInt64(), let count = r.readUInt64() else { throw .truncated(what: "snapshot header") }
        guard revision < UInt64.max else { throw .inconsistent("revision \(revision) leaves no room for writes") }
        // A record needs at least 32 bytes; anything claiming more records than that is garbage.
        guard count <= UInt64(r.remaining / 32) else { throw .tooMany(what: "snapshot key", count: count) }
        var sortedKeys: [[UInt8]] = []
        sortedKeys.reserveCapacity(Int(count))
        records.reserveCapacity(Int(count))
        var previous: [UInt8]?
        for _ in 0..<count {
            let keyString = try StoreCommand.decodeKey(&r)
            let key = Array(keyString.utf8)
            guard let value = r.readBlob(),
                  let createRevision = r.readUInt64(),
                  let modRevision = r.readUInt64(),
                  let keyVersion = r.readUInt64()
            else { throw .truncated(what: "snapshot record") }
            // Keys must be strictly increasing so the sorted index needs no sort.
            if let previous, !([UInt8].storeKeyLess(previous, key)) {
                throw .inconsistent("keys out of order at \(keyString)")
            }
            // Each write bumps the revision, so these bounds always hold for an honest snapshot.
            guard createRevision >= 1, createRevision <= modRevision, modRevision <= revision,
                  keyVersion >= 1, keyVersion <= modRevision - createRevision + 1
            else { throw .inconsistent("impossible revisions for \(keyString)") }
            previous = key
            sortedKeys.append(key)
            records[key] = Record(key: keyString, value: value, createRevision: createRevision, modRevision: modRevision, version: keyVersion)
        }
        guard r.isAtEnd else { throw .trailingBytes(count: r.remaining) }
        keyIndex = SortedKeyIndex(sortedKeys: sortedKeys)
        self.revision = revision
        history = EventRing(compactedThrough: revision)
    }
}

/// Events in revision order, trimmed from the front. A moving start index keeps trimming amortized O(1).
struct EventRing: Sendable {
    struct Entry: Sendable {
        var key: [UInt8]
        var event: StoreEvent
    }

    private var storage: [Entry] = []
    private var start = 0
    private(set) var compactedThrough: UInt64

    init(compactedThrough: UInt64 = 0) {
        self.compactedThrough = compactedThrough
    }

    var endIndex: Int { storage.count }

    subscript(position: Int) -> Entry { storage[position] }

    mutating func append(_ event: StoreEvent, key: [UInt8]) {
        storage.append(Entry(key: key, event: event))
    }

    mutating func compact(through revision: UInt64) {
        guard revision > compactedThrough else { return }
        compactedThrough = revision
        while start < storage.count, storage[start].event.revision <= revision {
            start += 1
        }
        if start > 1024, start * 2 > storage.count {
            storage.removeFirst(start)
            start = 0
        }
    }

    /// Position of the first event with revision > `revision`.
    func firstIndex(afterRevision revision: UInt64) -> Int {
        var low = start
        var high = storage.count
        while low < high {
            let mid = (low + high) / 2
            if storage[mid].event.revision <= revision { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
