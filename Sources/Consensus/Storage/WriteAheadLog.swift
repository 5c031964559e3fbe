/// The durable write-ahead log of a Raft member: log entries, hard state and snapshots.
///
/// ## Layout of the data directory
/// - `wal/<sequence>-<firstIndex>.wal` (both 16 lowercase hex digits): segments, read in sequence
///   order. A segment holds framed records (see `WALRecord`: length, CRC-32C, type, payload) of
///   four types: entry, hard state, snapshot marker, truncation. A new segment starts once the active one
///   passes `WALOptions.segmentSizeLimit`; it begins with the current hard state and snapshot
///   marker, so earlier segments can be deleted without losing them.
/// - `snap/<term>-<index>.snap`: snapshots (`version u8 | index u64 | term u64 | configuration blob |
///   data blob | crc32c u32` over everything before it), written to `<name>.tmp`, fsynced, renamed
///   and the directory fsynced, so a snapshot file is either whole or absent.
///
/// Recovery replays the segments in order: the last hard state wins; an entry whose index is not
/// past the last one replaces that index and everything after it (Raft's conflicting-suffix
/// overwrite), as does a truncation record; entries covered by the newest snapshot are dropped.
///
/// ## Durability contract (group commit)
/// `append(_:)` and `save(hardState:)` only buffer records in memory. Nothing is durable until
/// `sync()` returns without throwing: it writes every buffered record, fsyncs the touched segments
/// (and the `wal/` directory when a segment was created), in one round per call. The caller must
/// not acknowledge anything (a vote, an append response, a client write) before `sync()` returns;
/// batching many appends before one `sync()` is how throughput is gained. After any I/O failure
/// the log refuses further work (`WALError.failed`): reopen it to learn what survived.
///
/// Not thread-safe; owned by the single task that drives the Raft node.
public final class WriteAheadLog {
    struct Segment {
        var sequence: UInt64
        var firstIndex: UInt64
        var size: Int
        /// Highest entry index stored in the segment, whether or not a later overwrite superseded it.
        var maxEntryIndex: UInt64?
    }

    let fileSystem: any StorageFileSystem
    let walDirectory: String
    let snapDirectory: String
    let options: WALOptions

    private var segments: [Segment]
    private var pending: [UInt8] = []
    private var sealed: [(path: String, bytes: [UInt8])] = []
    private var segmentCreated = false
    private var failure: String?

    /// Index of the last entry written (buffered or durable), or of the snapshot when none follow it.
    public private(set) var lastIndex: UInt64
    private var hardState: WALHardState?
    private var snapshotMarker: (index: UInt64, term: UInt64)?

    public var segmentCount: Int { segments.count }
    public var hasUnsyncedRecords: Bool { !pending.isEmpty || !sealed.isEmpty }

    /// Opens (or creates) the log under `directory`, repairing a torn tail left by a crash.
    /// Throws `WALError.corrupt` naming the file and byte offset for any other damage.
    public static func open(
        directory: String, fileSystem: any StorageFileSystem, options: WALOptions = WALOptions()
    ) throws(WALError) -> (log: WriteAheadLog, recovered: WALRecoveredState) {
        let root = directory.isEmpty ? "" : (directory.hasSuffix("/") ? directory : directory + "/")
        let walDirectory = root + "wal"
        let snapDirectory = root + "snap"
        try io("create directories") {
            try fileSystem.createDirectory(walDirectory)
            try fileSystem.createDirectory(snapDirectory)
        }
        let snapshot = try loadNewestSnapshot(fileSystem: fileSystem, snapDirectory: snapDirectory)
        var replay = Replay(snapshotIndex: snapshot?.index ?? 0)

        let names = try io("list \(walDirectory)") { try fileSystem.listDirectory(walDirectory) }
        var found: [(sequence: UInt64, firstIndex: UInt64, name: String)] = []
        for name in names {
            if let (sequence, firstIndex) = parseSegmentName(name) {
                found.append((sequence, firstIndex, name))
            }
        }
        found.sort { $0.sequence < $1.sequence }

        var segments: [Segment] = []
        var truncated = 0
        for (position, segment) in found.enumerated() {
            let path = walDirectory + "/" + segment.name
            if let previous = segments.last, segment.sequence != previous.sequence &+ 1 {
                throw .corrupt(file: path, offset: 0, reason: "segment sequence \(segment.sequence) follows \(previous.sequence): a segment is missing")
            }
            let bytes = try io("read \(path)") { try fileSystem.readFile(path) }
            let isLast = position == found.count - 1
            var offset = 0
            var maxEntryIndex: UInt64?
            while offset < bytes.count {
                switch WALSegmentParser.frame(in: bytes, at: offset) {
                case .record(let record, let end):
                    if case .entry(let entry) = record { maxEntryIndex = max(maxEntryIndex ?? 0, entry.index) }
                    try replay.apply(record, file: path, offset: offset)
                    offset = end
                case .malformed(let reason):
                    throw .corrupt(file: path, offset: offset, reason: reason)
                case .damaged(let reason):
                    guard isLast else {
                        throw .corrupt(file: path, offset: offset, reason: reason + " in a segment that is not the last")
                    }
                    guard !WALSegmentParser.intactRecordExists(in: bytes, after: offset) else {
                        throw .corrupt(file: path, offset: offset, reason: reason + ", followed by intact records")
                    }
                    // A torn final write: cut it off and carry on from the last intact record.
                    truncated = bytes.count - offset
                    try io("truncate torn tail of \(path)") {
                        try fileSystem.truncate(path, to: offset)
                        try fileSystem.sync(path)
                    }
                    offset = bytes.count
                }
            }
            segments.append(Segment(
                sequence: segment.sequence, firstIndex: segment.firstIndex,
                size: bytes.count - (isLast ? truncated : 0), maxEntryIndex: maxEntryIndex))
        }

        if let snapshot, replay.markerIndex > snapshot.index {
            throw .corrupt(
                file: walDirectory, offset: 0,
                reason: "a snapshot marker names index \(replay.markerIndex) but the newest snapshot file is at \(snapshot.index)")
        }
        if snapshot == nil, replay.markerIndex > 0 {
            throw .corrupt(
                file: walDirectory, offset: 0,
                reason: "a snapshot marker names index \(replay.markerIndex) but no snapshot file exists")
        }

        let log = WriteAheadLog(
            fileSystem: fileSystem, walDirectory: walDirectory, snapDirectory: snapDirectory, options: options,
            segments: segments, lastIndex: replay.entries.last?.index ?? replay.snapshotIndex)
        log.hardState = replay.hardState
        if let snapshot { log.snapshotMarker = (snapshot.index, snapshot.term) }
        let recovered = WALRecoveredState(
            hardState: replay.hardState, snapshot: snapshot, entries: replay.entries, truncatedTornBytes: truncated)
        return (log, recovered)
    }

    private init(
        fileSystem: any StorageFileSystem, walDirectory: String, snapDirectory: String, options: WALOptions,
        segments: [Segment], lastIndex: UInt64
    ) {
        self.fileSystem = fileSystem
        self.walDirectory = walDirectory
        self.snapDirectory = snapDirectory
        self.options = options
        self.segments = segments
        self.lastIndex = lastIndex
    }

    // MARK: Writing

    /// Buffers entries. The first index may be at most `lastIndex + 1`; an index at or below
    /// `lastIndex` replaces that entry and all after it. Durable only after `sync()`.
    public func append(_ entries: [WALEntry]) throws(WALError) {
        try checkUsable()
        guard let first = entries.first else { return }
        guard first.index >= 1, first.index <= lastIndex &+ 1 else {
            throw .invalidArgument("entry index \(first.index) leaves a gap after \(lastIndex)")
        }
        if let marker = snapshotMarker, first.index <= marker.index {
            throw .invalidArgument("entry index \(first.index) is covered by the snapshot at \(marker.index)")
        }
        var expected = first.index
        for entry in entries {
            guard entry.index == expected else {
                throw .invalidArgument("entries are not contiguous: \(entry.index) where \(expected) was expected")
            }
            expected += 1
        }
        for entry in entries {
            rollOverIfNeeded(nextIndex: entry.index)
            WALRecord.entry(entry).append(to: &pending)
            noteEntry(entry.index)
        }
        lastIndex = entries[entries.count - 1].index
    }

    /// Buffers the deletion of entries at and after `index` (Raft's `truncateFrom`). Appending
    /// entries from `index` has the same effect on its own; this covers a truncation with nothing
    /// appended after it. Durable only after `sync()`.
    public func truncate(from index: UInt64) throws(WALError) {
        try checkUsable()
        guard index <= lastIndex else { return }
        if let marker = snapshotMarker, index <= marker.index {
            throw .invalidArgument("cannot truncate from \(index): the snapshot at \(marker.index) covers it")
        }
        rollOverIfNeeded(nextIndex: index)
        WALRecord.truncation(from: index).append(to: &pending)
        lastIndex = index - 1
    }

    /// Buffers a hard state; durable only after `sync()`.
    public func save(hardState: WALHardState) throws(WALError) {
        try checkUsable()
        rollOverIfNeeded(nextIndex: lastIndex &+ 1)
        WALRecord.hardState(hardState).append(to: &pending)
        self.hardState = hardState
    }

    /// Buffers entries then a hard state, the usual pair handed over by Raft; call `sync()` next.
    public func save(entries: [WALEntry], hardState: WALHardState?) throws(WALError) {
        try append(entries)
        if let hardState { try save(hardState: hardState) }
    }

    /// Writes and fsyncs everything buffered. See the type's durability contract.
    public func sync() throws(WALError) {
        try checkUsable()
        guard hasUnsyncedRecords else { return }
        let writes = sealed + [(path: activePath, bytes: pending)]
        do {
            // One file at a time: a segment is durable before its successor is created, so a
            // crash can only ever tear the last segment.
            for write in writes where !write.bytes.isEmpty {
                try fileSystem.append(write.bytes, to: write.path)
                try fileSystem.sync(write.path)
            }
            if segmentCreated {
                try fileSystem.syncDirectory(walDirectory)
            }
        } catch {
            failure = "sync: \(error)"
            throw .io("\(error)")
        }
        if !segments.isEmpty { segments[segments.count - 1].size += pending.count }
        sealed.removeAll()
        pending.removeAll(keepingCapacity: true)
        segmentCreated = false
    }

    /// Makes `snapshot` durable, records it in the log, then deletes segments and older snapshot
    /// files it covers. With `discardingLaterEntries` (a snapshot installed from the leader that
    /// does not match the local log) recovery also drops entries after the snapshot.
    /// Syncs everything buffered before it; durable on return.
    public func saveSnapshot(_ snapshot: WALSnapshot, discardingLaterEntries: Bool = false) throws(WALError) {
        try checkUsable()
        if let marker = snapshotMarker, snapshot.index < marker.index {
            throw .invalidArgument("snapshot at \(snapshot.index) is older than the saved one at \(marker.index)")
        }
        let name = Self.snapshotName(term: snapshot.term, index: snapshot.index)
        let path = snapDirectory + "/" + name
        let temporary = path + ".tmp"
        do {
            if fileSystem.fileExists(temporary) { try fileSystem.remove(temporary) }
            try fileSystem.append(Self.encodeSnapshot(snapshot), to: temporary)
            try fileSystem.sync(temporary)
            try fileSystem.rename(temporary, to: path)
            try fileSystem.syncDirectory(snapDirectory)
        } catch {
            failure = "snapshot: \(error)"
            throw .io("\(error)")
        }
        // The hard state travels with the marker so that deleting old segments cannot lose it.
        rollOverIfNeeded(nextIndex: lastIndex &+ 1)
        if let hardState { WALRecord.hardState(hardState).append(to: &pending) }
        WALRecord.snapshotMarker(index: snapshot.index, term: snapshot.term, discardsLaterEntries: discardingLaterEntries)
            .append(to: &pending)
        snapshotMarker = (snapshot.index, snapshot.term)
        lastIndex = discardingLaterEntries ? snapshot.index : max(lastIndex, snapshot.index)
        try sync()
        try releaseCovered(by: snapshot.index, keeping: name)
    }

    // MARK: Internals

    private var activePath: String {
        guard let active = segments.last else { return "" }
        return walDirectory + "/" + Self.segmentName(sequence: active.sequence, firstIndex: active.firstIndex)
    }

    private func noteEntry(_ index: UInt64) {
        let last = segments.count - 1
        segments[last].maxEntryIndex = max(segments[last].maxEntryIndex ?? 0, index)
    }

    /// Starts a new segment when the active one is full (or none exists yet).
    private func rollOverIfNeeded(nextIndex: UInt64) {
        if let active = segments.last, active.size + pending.count < options.segmentSizeLimit { return }
        if !segments.isEmpty {
            sealed.append((activePath, pending))
            segments[segments.count - 1].size += pending.count
            pending = []
        }
        let sequence = (segments.last?.sequence ?? 0) &+ 1
        segments.append(Segment(sequence: sequence, firstIndex: nextIndex, size: 0, maxEntryIndex: nil))
        segmentCreated = true
        // Repeat the state that old segments carry, so they can be deleted later.
        if let hardState { WALRecord.hardState(hardState).append(to: &pending) }
        if let marker = snapshotMarker {
            WALRecord.snapshotMarker(index: marker.index, term: marker.term, discardsLaterEntries: false).append(to: &pending)
        }
    }

    private func releaseCovered(by snapshotIndex: UInt64, keeping snapshotName: String) throws(WALError) {
        do {
            var removed = false
            // Only a prefix, and never the active segment: replay order must stay intact.
            while segments.count > 1, (segments[0].maxEntryIndex ?? 0) <= snapshotIndex {
                let segment = segments.removeFirst()
                try fileSystem.remove(walDirectory + "/" + Self.segmentName(sequence: segment.sequence, firstIndex: segment.firstIndex))
                removed = true
            }
            if removed { try fileSystem.syncDirectory(walDirectory) }
            var removedSnapshots = false
            for name in try fileSystem.listDirectory(snapDirectory) where name != snapshotName && name.hasSuffix(".snap") {
                try fileSystem.remove(snapDirectory + "/" + name)
                removedSnapshots = true
            }
            if removedSnapshots { try fileSystem.syncDirectory(snapDirectory) }
        } catch {
            failure = "release: \(error)"
            throw .io("\(error)")
        }
    }

    private func checkUsable() throws(WALError) {
        if let failure { throw .failed(failure) }
    }

    private static func io<T>(_ what: String, _ body: () throws -> T) throws(WALError) -> T {
        do {
            return try body()
        } catch {
            throw .io("\(what): \(error)")
        }
    }

    // MARK: Names

    static func hex16(_ value: UInt64) -> String {
        zeroPaddedHex(value, digits: 16)
    }

    static func segmentName(sequence: UInt64, firstIndex: UInt64) -> String {
        "\(hex16(sequence))-\(hex16(firstIndex)).wal"
    }

    static func snapshotName(term: UInt64, index: UInt64) -> String {
        "\(hex16(term))-\(hex16(index)).snap"
    }

    /// Parses `<16 hex>-<16 hex><suffix>`.
    static func parsePair(_ name: String, suffix: String) -> (UInt64, UInt64)? {
        guard name.hasSuffix(suffix) else { return nil }
        let stem = name.dropLast(suffix.count)
        let parts = stem.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[0].count == 16, parts[1].count == 16,
              let a = UInt64(parts[0], radix: 16), let b = UInt64(parts[1], radix: 16)
        else { return nil }
        return (a, b)
    }

    static func parseSegmentName(_ name: String) -> (sequence: UInt64, firstIndex: UInt64)? {
        parsePair(name, suffix: ".wal")
    }

    // MARK: Snapshot files

    static let snapshotFileVersion: UInt8 = 1

    static func encodeSnapshot(_ snapshot: WALSnapshot) -> [UInt8] {
        var w = StoreBytesWriter(reservingCapacity: 29 + snapshot.configuration.count + snapshot.data.count + 4)
        w.writeUInt8(snapshotFileVersion)
        w.writeUInt64(snapshot.index)
        w.writeUInt64(snapshot.term)
        w.writeBlob(snapshot.configuration)
        w.writeBlob(snapshot.data)
        let crc = CRC32C.checksum(w.bytes)
        w.writeUInt32(crc)
        return w.bytes
    }

    static func decodeSnapshot(_ bytes: [UInt8], file: String) throws(WALError) -> WALSnapshot {
        guard bytes.count >= 4 else { throw .corrupt(file: file, offset: 0, reason: "snapshot file too short (\(bytes.count) bytes)") }
        let bodyEnd = bytes.count - 4
        var trailer = StoreBytesReader(bytes, offset: bodyEnd)
        let stored = trailer.readUInt32() ?? 0
        let computed = CRC32C.checksum(bytes, range: 0..<bodyEnd)
        guard stored == computed else {
            throw .corrupt(
                file: file, offset: bodyEnd,
                reason: "snapshot checksum mismatch (stored \(WALSegmentParser.hex(stored)), computed \(WALSegmentParser.hex(computed)))")
        }
        var r = StoreBytesReader(Array(bytes[0..<bodyEnd]))
        guard let version = r.readUInt8(), version == snapshotFileVersion else {
            throw .corrupt(file: file, offset: 0, reason: "unsupported snapshot file version")
        }
        guard let index = r.readUInt64(), let term = r.readUInt64(),
              let configuration = r.readBlob(), let data = r.readBlob(), r.isAtEnd, index < UInt64.max
        else { throw .corrupt(file: file, offset: r.offset, reason: "malformed snapshot file") }
        return WALSnapshot(index: index, term: term, configuration: configuration, data: data)
    }

    private static func loadNewestSnapshot(fileSystem: any StorageFileSystem, snapDirectory: String) throws(WALError) -> WALSnapshot? {
        let names = try io("list \(snapDirectory)") { try fileSystem.listDirectory(snapDirectory) }
        var newest: (index: UInt64, name: String)?
        for name in names {
            if name.hasSuffix(".tmp") {
                // An unfinished snapshot write: never renamed, so never relied upon.
                try io("remove \(name)") { try fileSystem.remove(snapDirectory + "/" + name) }
                continue
            }
            guard let (_, index) = parsePair(name, suffix: ".snap") else { continue }
            if newest == nil || index > newest?.index ?? 0 { newest = (index, name) }
        }
        guard let newest else { return nil }
        let path = snapDirectory + "/" + newest.name
        let bytes = try io("read \(path)") { try fileSystem.readFile(path) }
        let snapshot = try decodeSnapshot(bytes, file: path)
        guard snapshot.index == newest.index else {
            throw .corrupt(file: path, offset: 1, reason: "snapshot index \(snapshot.index) does not match its file name")
        }
        return snapshot
    }
}

/// Replays records in order into the recovered state.
private struct Replay {
    var snapshotIndex: UInt64
    var markerIndex: UInt64 = 0
    var hardState: WALHardState?
    var entries: [WALEntry] = []

    init(snapshotIndex: UInt64) {
        self.snapshotIndex = snapshotIndex
    }

    mutating func apply(_ record: WALRecord, file: String, offset: Int) throws(WALError) {
        // Indexes are 1-based and never reach UInt64.max; anything else is damage, and the bound
        // keeps the index arithmetic below from overflowing.
        let index: UInt64? = switch record {
        case .entry(let entry): entry.index
        case .snapshotMarker(let index, _, _), .truncation(let index): index
        case .hardState: nil
        }
        if let index, index == 0 || index == UInt64.max {
            throw .corrupt(file: file, offset: offset, reason: "record with impossible log index \(index)")
        }
        switch record {
        case .hardState(let state):
            hardState = state
        case .snapshotMarker(let index, _, let discards):
            markerIndex = max(markerIndex, index)
            snapshotIndex = max(snapshotIndex, index)
            if discards {
                entries.removeAll()
            } else {
                entries.removeFirst(entries.prefix { $0.index <= index }.count)
            }
        case .truncation(let index):
            entries.removeLast(entries.count - entries.prefix { $0.index < index }.count)
        case .entry(let entry):
            if entry.index <= snapshotIndex {
                // Covered by the snapshot, but still an overwrite: whatever followed it earlier is superseded.
                entries.removeAll()
                return
            }
            if let first = entries.first, let last = entries.last {
                if entry.index == last.index + 1 {
                    entries.append(entry)
                } else if entry.index <= last.index {
                    // Raft replaced a conflicting suffix: the newer write wins from here on.
                    if entry.index <= first.index {
                        entries.removeAll()
                    } else {
                        entries.removeLast(Int(last.index - entry.index + 1))
                    }
                    entries.append(entry)
                } else {
                    throw .corrupt(file: file, offset: offset, reason: "entry \(entry.index) leaves a gap after entry \(last.index)")
                }
            } else {
                guard snapshotIndex == 0 || entry.index == snapshotIndex + 1 else {
                    throw .corrupt(file: file, offset: offset, reason: "entry \(entry.index) leaves a gap after the snapshot at \(snapshotIndex)")
                }
                entries.append(entry)
            }
        }
    }
}
