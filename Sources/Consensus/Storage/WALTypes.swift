/// One Raft log entry as the WAL stores it; `kind` and `data` are opaque here.
public struct WALEntry: Sendable, Hashable {
    public var index: UInt64
    public var term: UInt64
    public var kind: UInt8
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, kind: UInt8 = 0, data: [UInt8]) {
        self.index = index
        self.term = term
        self.kind = kind
        self.data = data
    }
}

/// Raft's hard state: what a node must remember across restarts to keep its promises.
public struct WALHardState: Sendable, Hashable {
    public var term: UInt64
    public var vote: UInt64
    public var commit: UInt64

    public init(term: UInt64, vote: UInt64, commit: UInt64) {
        self.term = term
        self.vote = vote
        self.commit = commit
    }
}

/// A state-machine snapshot covering the log up to and including `index`.
public struct WALSnapshot: Sendable, Hashable {
    public var index: UInt64
    public var term: UInt64
    /// Opaque cluster configuration (voters, learners) as of `index`.
    public var configuration: [UInt8]
    public var data: [UInt8]

    public init(index: UInt64, term: UInt64, configuration: [UInt8], data: [UInt8]) {
        self.index = index
        self.term = term
        self.configuration = configuration
        self.data = data
    }
}

/// What `WriteAheadLog.open` found on disk.
public struct WALRecoveredState: Sendable, Hashable {
    /// The last hard state written, if any.
    public var hardState: WALHardState?
    /// The newest snapshot, if any.
    public var snapshot: WALSnapshot?
    /// Contiguous entries after the snapshot (or from the first entry when there is none),
    /// with every overwritten suffix already replaced by its newer version.
    public var entries: [WALEntry]
    /// Bytes cut from the end of the last segment because its final write was torn by a crash.
    public var truncatedTornBytes: Int
}

public struct WALOptions: Sendable, Hashable {
    /// A new segment starts once the active one reaches this size.
    public var segmentSizeLimit: Int

    public init(segmentSizeLimit: Int = 64 << 20) {
        self.segmentSizeLimit = max(4096, segmentSizeLimit)
    }
}

public enum WALError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Damage that a crash cannot explain (not a torn tail): the log refuses to open.
    case corrupt(file: String, offset: Int, reason: String)
    /// A file operation failed.
    case io(String)
    /// An earlier write or sync failed; the log's durable state is unknown, so it refuses
    /// further work until it is reopened (the fsync-gate lesson).
    case failed(String)
    /// The caller broke the API contract (e.g. an entry index gap).
    case invalidArgument(String)

    public var description: String {
        switch self {
        case .corrupt(let file, let offset, let reason):
            "write-ahead log corrupt: \(file) at byte offset \(offset): \(reason); refusing to open (restore this member from a peer or a backup)"
        case .io(let message):
            "write-ahead log I/O error: \(message)"
        case .failed(let message):
            "write-ahead log unusable after an earlier failure (\(message)); reopen it"
        case .invalidArgument(let message):
            "write-ahead log: \(message)"
        }
    }
}
