import Logging
import NIOConcurrencyHelpers

/// The Raft member of a peer: drives the pure `RaftNode` with the write-ahead log, the cluster store and
/// the transport. One task (`run()`) owns the core and the log; everything else talks to it through a
/// mailbox, so a whole burst of proposals shares one `ready()` and one fsync (group commit).
///
/// Wiring: hand `receive(from:frame:)` to `RaftTransport.serve` as its frame handler, and run `run()`
/// for as long as the peer lives. Any peer accepts proposals and reads; followers forward proposals
/// to the leader and ask it for a read index.
public final class ConsensusNode: Sendable {
    public let id: UInt64
    let dataDirectory: String
    let settings: ConsensusSettings
    let transport: any ConsensusTransport
    let resolver: @Sendable (UInt64) -> PeerAddress?
    let logger: Logger
    let bootstrap: RaftMembership?
    /// Draws this boot's proposal nonce, so old log entries never answer new waiters.
    let nonce: UInt64
    let makeFileSystem: @Sendable () -> any StorageFileSystem

    let storeBox: NIOLockedValueBox<ClusterStore>
    let shared: NIOLockedValueBox<Shared>
    /// Wakes the loop's thread; rung only while it waits (`Shared.loopWaiting`).
    let doorbell: ConditionLock<Bool>

    /// - Parameters:
    ///   - dataDirectory: the peer's data directory; the log lives in `<dataDirectory>/raft`.
    ///   - bootstrap: the membership of a brand-new cluster, used only when the log is empty. The first
    ///     peer passes itself as the single voter; a joining peer passes nil and waits to be added.
    public convenience init(id: UInt64, dataDirectory: String, settings: ConsensusSettings = ConsensusSettings(),
                transport: any ConsensusTransport, resolver: @escaping @Sendable (UInt64) -> PeerAddress?,
                logger: Logger, bootstrap: RaftMembership? = nil) {
        self.init(id: id, dataDirectory: dataDirectory, settings: settings, transport: transport, resolver: resolver,
                  logger: logger, bootstrap: bootstrap, fileSystem: { POSIXFileSystem() })
    }

    /// Tests inject a file system that fails on demand.
    init(id: UInt64, dataDirectory: String, settings: ConsensusSettings, transport: any ConsensusTransport,
         resolver: @escaping @Sendable (UInt64) -> PeerAddress?, logger: Logger, bootstrap: RaftMembership?,
         fileSystem: @escaping @Sendable () -> any StorageFileSystem) {
        precondition(id != 0, "node id 0 means none in Raft")  // justified: a programming error, not input
        self.id = id
        self.dataDirectory = dataDirectory
        self.settings = settings
        self.transport = transport
        self.resolver = resolver
        self.logger = logger
        self.bootstrap = bootstrap
        self.makeFileSystem = fileSystem
        var system = SystemRandomNumberGenerator()
        var seeded = ConsensusRandom(seed: (settings.randomSeed ?? system.next()) ^ id)
        self.nonce = seeded.next()
        storeBox = NIOLockedValueBox(ClusterStore(historyRevisions: settings.storeHistoryRevisions))
        let doorbell = ConditionLock(value: false)
        self.doorbell = doorbell
        shared = NIOLockedValueBox(Shared(doorbell: doorbell, status: ConsensusStatus(
            id: id, role: .follower, term: 0, leader: 0, commitIndex: 0, appliedIndex: 0, voters: [], learners: [])))
    }

    // MARK: Writes

    /// Replicates `command` and answers with the result of applying it on this peer's store, once this
    /// peer has applied it (so a read here right after sees it).
    public func propose(_ command: StoreCommand) async throws(ConsensusError) -> StoreApplyResult {
        try await proposal(command).get()
    }

    /// `propose` as a value, for callers that fan many proposals out at once (a task group's child returns it
    /// rather than throwing).
    public func proposal(_ command: StoreCommand) async -> Result<StoreApplyResult, ConsensusError> {
        let payload = command.encoded()
        let deadline = ContinuousClock.now + settings.requestTimeout
        return await withCheckedContinuation { continuation in
            let refusal: ConsensusError? = shared.withLockedValue { s in
                if s.phase == .stopped { return .stopped }
                if s.leaderless { return .noLeader }
                s.nextSequence += 1
                let pid = ProposalID(origin: id, nonce: nonce, sequence: s.nextSequence)
                s.proposalWaiters[s.nextSequence] = Waiter(continuation: continuation, deadline: deadline)
                s.proposals.append(Proposal(envelope: ProposalEnvelope.encode(pid, command: payload), deadline: deadline,
                                            sequence: s.nextSequence))
                s.wakeLoop()
                return nil
            }
            if let refusal { continuation.resume(returning: .failure(refusal)) }
        }
    }

    // MARK: Reads

    /// Runs `body` against the store. `.linearizable` first confirms with the leader (one ReadIndex round
    /// shared by every read waiting at the same moment) and waits until this replica has applied that far.
    /// `body` runs under the store's lock: keep it short and do not keep the store beyond it.
    public func read<T>(_ consistency: ReadConsistency = .linearizable,
                        _ body: (borrowing ClusterStore) -> T) async throws(ConsensusError) -> T {
        if consistency == .linearizable {
            let deadline = ContinuousClock.now + settings.requestTimeout
            let result: Result<Void, ConsensusError> = await withCheckedContinuation { continuation in
                let refusal: ConsensusError? = shared.withLockedValue { s in
                    if s.phase == .stopped { return .stopped }
                    if s.leaderless { return .noLeader }
                    s.nextReadID += 1
                    s.readWaiters[s.nextReadID] = Waiter(continuation: continuation, deadline: deadline)
                    s.reads.append(s.nextReadID)
                    s.wakeLoop()
                    return nil
                }
                if let refusal { continuation.resume(returning: .failure(refusal)) }
            }
            try result.get()
        } else {
            try await waitUntilLoaded()
        }
        // The store only moves forward, so reading it now still sees at least the read index.
        return storeBox.withLockedValue { body($0) }
    }

    /// Waits until `run()` has replayed the log into the store, so a stale read never sees an empty
    /// store that is merely not loaded yet.
    public func waitUntilLoaded() async throws(ConsensusError) {
        let result: Result<Void, ConsensusError> = await withCheckedContinuation { continuation in
            let now: Result<Void, ConsensusError>? = shared.withLockedValue { s in
                if s.phase == .stopped { return .failure(.stopped) }
                if s.loaded { return .success(()) }
                s.loadWaiters.append(continuation)
                return nil
            }
            if let now { continuation.resume(returning: now) }
        }
        try result.get()
    }

    /// The local store's revision (stale).
    public var revision: UInt64 { storeBox.withLockedValue { $0.revision } }

    /// Returns the store's revision once it is past `revision` (at once if it already is). Watchers call
    /// this, then pull `events(after:matching:)` through `read(.stale)`. Returns early if the task is
    /// cancelled; throws `.stopped` when the node stops.
    public func waitForRevision(after revision: UInt64) async throws(ConsensusError) -> UInt64 {
        let current = self.revision
        if current > revision { return current }
        let key = shared.withLockedValue { s -> UInt64 in
            s.nextRevisionWaiterID += 1
            return s.nextRevisionWaiterID
        }
        let result: Result<UInt64, ConsensusError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                // Checked under the lock the loop takes after applying, so a wake-up cannot be missed.
                let immediate: Result<UInt64, ConsensusError>? = shared.withLockedValue { s in
                    if s.phase == .stopped { return .failure(.stopped) }
                    if s.cancelledRevisionWaiters.remove(key) != nil { return .success(s.publishedRevision) }
                    if s.publishedRevision > revision { return .success(s.publishedRevision) }
                    s.revisionWaiters[key] = RevisionWaiter(after: revision, continuation: continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = shared.withLockedValue { s -> RevisionWaiter? in
                guard let w = s.revisionWaiters.removeValue(forKey: key) else {
                    s.cancelledRevisionWaiters.insert(key)
                    return nil
                }
                return w
            }
            waiter?.continuation.resume(returning: .success(self.revision))
        }
        shared.withLockedValue { _ = $0.cancelledRevisionWaiters.remove(key) }
        return try result.get()
    }

    /// Returns the status once this node's role or term differs from the given ones (at once if it already
    /// does), or when the task is cancelled or the node stops. Lets leader-only work start without polling.
    public func waitForRoleChange(from role: ConsensusRole, term: UInt64) async -> ConsensusStatus {
        let key = shared.withLockedValue { s -> UInt64? in
            if s.phase == .stopped || s.status.role != role || s.status.term != term { return nil }
            s.nextRoleWaiterID += 1
            return s.nextRoleWaiterID
        }
        guard let key else { return status() }
        let changed = await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<ConsensusStatus, Never>) in
                // Checked under the lock the loop takes when it publishes, so a change cannot be missed.
                let immediate: ConsensusStatus? = shared.withLockedValue { s in
                    if s.cancelledRoleWaiters.remove(key) != nil { return s.status }
                    if s.phase == .stopped || s.status.role != role || s.status.term != term { return s.status }
                    s.roleWaiters[key] = RoleWaiter(role: role, term: term, continuation: continuation)
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = shared.withLockedValue { s -> RoleWaiter? in
                guard let w = s.roleWaiters.removeValue(forKey: key) else {
                    s.cancelledRoleWaiters.insert(key)
                    return nil
                }
                return w
            }
            waiter?.continuation.resume(returning: self.status())
        }
        // A cancellation that came after the waiter was resumed left its key behind, as with revision waiters.
        shared.withLockedValue { _ = $0.cancelledRoleWaiters.remove(key) }
        return changed
    }

    // MARK: Status and membership

    public func status() -> ConsensusStatus { shared.withLockedValue { $0.status } }

    /// On the leader: each other member's match index (how much of the log it stores). Empty elsewhere.
    public func replicationProgress() -> [UInt64: UInt64] { shared.withLockedValue { $0.progress } }

    /// On the leader: whether `member` stores the log within `lag` entries of the commit index, i.e. a
    /// learner is ready to be promoted. False elsewhere or for unknown members.
    public func isCaughtUp(_ member: UInt64, lag: UInt64 = 0) -> Bool {
        shared.withLockedValue { s in
            guard s.status.role == .leader, let match = s.progress[member] else { return false }
            return match + lag >= s.status.commitIndex
        }
    }

    /// Leader only: adds a non-voting member that receives the log. Returns once the change is applied here.
    public func addLearner(_ member: UInt64) async throws(ConsensusError) { try await admin(.change(.addLearner(member))) }
    /// Leader only: makes a learner a voter.
    public func promote(_ member: UInt64) async throws(ConsensusError) { try await admin(.change(.promote(member))) }
    /// Leader only: removes a voter or learner.
    public func removeMember(_ member: UInt64) async throws(ConsensusError) { try await admin(.change(.remove(member))) }
    /// Leader only: starts handing leadership to `member` (a caught-up voter); poll `status()` for the outcome.
    public func transferLeadership(to member: UInt64) async throws(ConsensusError) { try await admin(.transfer(member)) }

    func admin(_ op: AdminOperation) async throws(ConsensusError) {
        let deadline = ContinuousClock.now + settings.requestTimeout
        let result: Result<Void, ConsensusError> = await withCheckedContinuation { continuation in
            let refused = shared.withLockedValue { s -> Bool in
                if s.phase == .stopped { return true }
                s.admin.append(AdminRequest(operation: op, waiter: Waiter(continuation: continuation, deadline: deadline)))
                s.wakeLoop()
                return false
            }
            if refused { continuation.resume(returning: .failure(.stopped)) }
        }
        try result.get()
    }

    // MARK: Inbound

    /// The transport's frame handler: queues the frame for the loop and returns at once.
    @Sendable public func receive(from peer: UInt64, frame: [UInt8]) {
        shared.withLockedValue { s in
            guard s.phase != .stopped else { return }
            s.inbound.append((peer, frame))
            // An idle leader takes its heartbeats' answers on its next heartbeat turn (at most heartbeatTicks
            // away) instead of waking once for each: they only tell it the followers are there.
            if s.heartbeatAnswersMayWait && s.proposalWaiters.isEmpty && s.readWaiters.isEmpty
                && ConsensusFrame.isHeartbeatResponse(frame) { return }
            s.wakeLoop()
        }
    }
}

// MARK: - Shared state

typealias Reply<T> = CheckedContinuation<Result<T, ConsensusError>, Never>

struct Waiter<T>: Sendable {
    var continuation: Reply<T>
    var deadline: ContinuousClock.Instant
}

struct RevisionWaiter {
    var after: UInt64
    var continuation: Reply<UInt64>
}

struct RoleWaiter {
    var role: ConsensusRole
    var term: UInt64
    var continuation: CheckedContinuation<ConsensusStatus, Never>
}

struct Proposal: Sendable {
    var envelope: [UInt8]
    var deadline: ContinuousClock.Instant
    /// Set for this node's own proposals (the key of their waiter); nil for proposals forwarded to us.
    var sequence: UInt64? = nil
}

enum AdminOperation: Sendable {
    case change(RaftConfigChange)
    case transfer(UInt64)
}

struct AdminRequest: Sendable {
    var operation: AdminOperation
    var waiter: Waiter<Void>
}

enum Phase { case idle, running, stopped }

/// Everything the loop and the callers share, behind one lock held only briefly.
struct Shared {
    init(doorbell: ConditionLock<Bool>, status: ConsensusStatus) {
        self.doorbell = doorbell
        self.status = status
    }

    var phase = Phase.idle
    /// The log has been replayed into the store.
    var loaded = false
    var loadWaiters: [Reply<Void>] = []
    var cancelRequested = false
    let doorbell: ConditionLock<Bool>
    /// The loop is (about to be) blocked on the doorbell.
    var loopWaiting = false

    // The mailbox.
    var inbound: [(UInt64, [UInt8])] = []
    var proposals: [Proposal] = []
    var reads: [UInt64] = []
    var admin: [AdminRequest] = []
    var ticks = 0

    // Waiters, answered by the loop.
    var nextSequence: UInt64 = 0
    var proposalWaiters: [UInt64: Waiter<StoreApplyResult>] = [:]
    var nextReadID: UInt64 = 0
    var readWaiters: [UInt64: Waiter<Void>] = [:]
    var nextRevisionWaiterID: UInt64 = 0
    var revisionWaiters: [UInt64: RevisionWaiter] = [:]
    var cancelledRevisionWaiters: Set<UInt64> = []
    var publishedRevision: UInt64 = 0
    var nextRoleWaiterID: UInt64 = 0
    var roleWaiters: [UInt64: RoleWaiter] = [:]
    var cancelledRoleWaiters: Set<UInt64> = []

    // What the loop publishes.
    var status: ConsensusStatus
    var progress: [UInt64: UInt64] = [:]
    /// No leader known for longer than an election timeout: fail fast instead of queueing.
    var leaderless = false
    /// This node leads and nothing it holds waits on an answer (no read round, parked proposal or
    /// membership change): a heartbeat's answer need not wake the loop.
    var heartbeatAnswersMayWait = false

    var hasWork: Bool {
        ticks > 0 || !inbound.isEmpty || !proposals.isEmpty || !reads.isEmpty || !admin.isEmpty
    }

    mutating func wakeLoop() {
        guard loopWaiting else { return }
        loopWaiting = false
        doorbell.lock()
        doorbell.unlock(withValue: true)
    }
}

/// One turn's worth of mailbox contents.
struct MailboxBatch: Sendable {
    var inbound: [(UInt64, [UInt8])]
    var proposals: [Proposal]
    var reads: [UInt64]
    var admin: [AdminRequest]
    var ticks: Int
}
