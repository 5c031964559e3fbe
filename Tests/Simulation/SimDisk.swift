public enum SimDiskError: Error, Equatable, Sendable {
    case noSuchFile(String)
    /// A positioned write or read beyond the end of the file.
    case outOfRange(file: String, offset: Int, size: Int)
    /// Raised by writes/fsyncs while `failing` is set (models EIO / a full disk).
    case ioError(String)
}

/// How a crash treats data written since the last `fsync`.
public enum SimCrashMode: Sendable, Equatable {
    /// Every unsynced byte is lost: each file goes back to its last fsynced content.
    case loseUnsynced
    /// Unsynced writes except the last reach the platter; the last keeps only a random
    /// (possibly empty, never complete) prefix.
    case tornLastWrite
    /// Unsynced writes reach the platter in order up to a random one, which is cut
    /// to a random strict prefix; later ones are lost.
    case tornAnywhere
}

/// Per-node disk of named files with explicit durability: data becomes crash-safe
/// only when the file is fsynced. Creating, removing and renaming files are durable
/// at once (we do not model directory fsync).
///
/// A class so a WAL object and the simulation can share one disk; not thread-safe.
public final class SimDisk {
    private enum Op {
        case write(offset: Int, bytes: [UInt8])
        case truncate(size: Int)
    }

    private struct File {
        var durable: [UInt8] = []
        var current: [UInt8] = []
        var unsynced: [Op] = []
    }

    private var files: [String: File] = [:]
    public private(set) var fsyncCount = 0
    public private(set) var crashCount = 0
    /// While true, every write, append, truncate and fsync throws `ioError`.
    public var failing = false

    public init() {}

    public func exists(_ name: String) -> Bool { files[name] != nil }

    /// File names in sorted order.
    public func list() -> [String] { files.keys.sorted() }

    public func size(_ name: String) throws(SimDiskError) -> Int {
        try file(name).current.count
    }

    /// Bytes written to the file since its last fsync (for assertions).
    public func unsyncedOperationCount(_ name: String) throws(SimDiskError) -> Int {
        try file(name).unsynced.count
    }

    public func read(_ name: String) throws(SimDiskError) -> [UInt8] {
        try file(name).current
    }

    public func read(_ name: String, offset: Int, count: Int) throws(SimDiskError) -> [UInt8] {
        let content = try file(name).current
        guard offset >= 0, count >= 0, offset <= content.count, count <= content.count - offset else {
            throw .outOfRange(file: name, offset: offset, size: content.count)
        }
        return Array(content[offset..<(offset + count)])
    }

    /// Creates an empty file if it does not exist (durable at once).
    public func create(_ name: String) throws(SimDiskError) {
        if failing { throw .ioError(name) }
        if files[name] == nil { files[name] = File() }
    }

    /// Replaces the whole content, creating the file if needed (unsynced until fsync).
    public func write(_ name: String, _ bytes: [UInt8]) throws(SimDiskError) {
        try create(name)
        apply(.truncate(size: 0), to: name)
        apply(.write(offset: 0, bytes: bytes), to: name)
    }

    /// Overwrites (or extends) at `offset`, which must be within 0...size.
    public func write(_ name: String, at offset: Int, _ bytes: [UInt8]) throws(SimDiskError) {
        if failing { throw .ioError(name) }
        let size = try file(name).current.count
        guard offset >= 0, offset <= size else { throw .outOfRange(file: name, offset: offset, size: size) }
        apply(.write(offset: offset, bytes: bytes), to: name)
    }

    /// Appends, creating the file if needed (like O_APPEND|O_CREAT).
    public func append(_ name: String, _ bytes: [UInt8]) throws(SimDiskError) {
        try create(name)
        let size = files[name]?.current.count ?? 0
        apply(.write(offset: size, bytes: bytes), to: name)
    }

    /// Shrinks (or zero-extends) the file; unsynced until fsync.
    public func truncate(_ name: String, to size: Int) throws(SimDiskError) {
        if failing { throw .ioError(name) }
        _ = try file(name)
        guard size >= 0 else { throw .outOfRange(file: name, offset: size, size: files[name]?.current.count ?? 0) }
        apply(.truncate(size: size), to: name)
    }

    /// Makes everything written to this file so far survive crashes.
    public func fsync(_ name: String) throws(SimDiskError) {
        if failing { throw .ioError(name) }
        var f = try file(name)
        f.durable = f.current
        f.unsynced.removeAll()
        files[name] = f
        fsyncCount += 1
    }

    public func remove(_ name: String) throws(SimDiskError) {
        guard files.removeValue(forKey: name) != nil else { throw .noSuchFile(name) }
    }

    /// Atomically renames, replacing any existing `to`; durable at once, but the
    /// moved file's unsynced data stays unsynced.
    public func rename(_ from: String, to: String) throws(SimDiskError) {
        let f = try file(from)
        files.removeValue(forKey: from)
        files[to] = f
    }

    /// Simulates power loss: unsynced data is lost or torn, per `mode`.
    public func crash(_ mode: SimCrashMode = .loseUnsynced, using rng: inout SeededRandom) {
        crashCount += 1
        for name in files.keys.sorted() {
            guard var f = files[name] else { continue }
            var content = f.durable
            if !f.unsynced.isEmpty && mode != .loseUnsynced {
                let cut = mode == .tornLastWrite ? f.unsynced.count - 1 : rng.int(in: 0..<f.unsynced.count)
                for op in f.unsynced[..<cut] { SimDisk.apply(op, to: &content) }
                switch f.unsynced[cut] {
                case let .write(offset, bytes):
                    let kept = bytes.isEmpty ? 0 : rng.int(in: 0..<bytes.count)
                    SimDisk.apply(.write(offset: offset, bytes: Array(bytes[..<kept])), to: &content)
                case .truncate:
                    break  // metadata change either happens or not; here it did not
                }
            }
            f.durable = content
            f.current = content
            f.unsynced.removeAll()
            files[name] = f
        }
    }

    /// Crash without tearing (no randomness needed).
    public func crash() {
        var unused = SeededRandom(seed: 0)
        crash(.loseUnsynced, using: &unused)
    }

    private func file(_ name: String) throws(SimDiskError) -> File {
        guard let f = files[name] else { throw .noSuchFile(name) }
        return f
    }

    private func apply(_ op: Op, to name: String) {
        guard var f = files.removeValue(forKey: name) else { return }
        SimDisk.apply(op, to: &f.current)
        f.unsynced.append(op)
        files[name] = f
    }

    private static func apply(_ op: Op, to content: inout [UInt8]) {
        switch op {
        case let .write(offset, bytes):
            // offset <= count is guaranteed by callers; a torn prefix of an earlier
            // extending write can leave a gap, which real disks fill with zeros.
            if offset > content.count { content.append(contentsOf: repeatElement(0, count: offset - content.count)) }
            let overlap = min(bytes.count, content.count - offset)
            content.replaceSubrange(offset..<(offset + overlap), with: bytes[..<overlap])
            content.append(contentsOf: bytes[overlap...])
        case let .truncate(size):
            if size < content.count {
                content.removeSubrange(size...)
            } else {
                content.append(contentsOf: repeatElement(0, count: size - content.count))
            }
        }
    }
}
