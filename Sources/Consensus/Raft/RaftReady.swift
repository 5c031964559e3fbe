// The hand-off from the pure core to the shell.
//
// The shell handles a `RaftReady` strictly in this order:
//   1. Persist durably (fsync): `snapshot` (it replaces the whole stored log), then drop stored entries
//      at and after `truncateFrom`, then append `entries`, then `hardState`.
//   2. Only then send `messages`: votes and append responses promise durability, so they must never
//      leave before step 1 is on disk (a leader's appends are delayed too, which keeps the rule simple).
//   3. Apply `committedEntries` in order (and restore the state machine from `snapshot` first if set);
//      serve `readStates` (the core only releases them once their index is applied).
//   4. Call `advance()` on the node before the next `ready()`.

public struct RaftReady: Sendable, Equatable {
    /// Set when leader or role changed since the last `ready()`.
    public var softState: RaftSoftState?
    /// Set when term, vote or commit changed since the last `ready()`.
    public var hardState: RaftHardState?
    /// A snapshot received from the leader, to persist and install.
    public var snapshot: RaftSnapshot?
    /// Stored entries with index >= this must be deleted before appending `entries`.
    public var truncateFrom: UInt64?
    public var entries: [RaftEntry]
    /// Send only after step 1 is durable.
    public var messages: [RaftMessage]
    public var committedEntries: [RaftEntry]
    public var readStates: [RaftReadState]

    public init(softState: RaftSoftState? = nil, hardState: RaftHardState? = nil, snapshot: RaftSnapshot? = nil,
                truncateFrom: UInt64? = nil, entries: [RaftEntry] = [], messages: [RaftMessage] = [],
                committedEntries: [RaftEntry] = [], readStates: [RaftReadState] = []) {
        self.softState = softState
        self.hardState = hardState
        self.snapshot = snapshot
        self.truncateFrom = truncateFrom
        self.entries = entries
        self.messages = messages
        self.committedEntries = committedEntries
        self.readStates = readStates
    }

    /// Whether anything must be persisted before `messages` go out.
    public var mustPersist: Bool {
        hardState != nil || snapshot != nil || truncateFrom != nil || !entries.isEmpty
    }

    public var isEmpty: Bool {
        softState == nil && !mustPersist && messages.isEmpty && committedEntries.isEmpty && readStates.isEmpty
    }
}
