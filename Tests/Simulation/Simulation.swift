/// Fault settings applied to each message sent over a link.
public struct NetworkFaults: Sendable, Equatable {
    /// Probability that a message is silently dropped.
    public var loss: Double
    /// Probability that a message is delivered twice (each copy gets its own delay).
    public var duplication: Double
    /// One-way delay, drawn uniformly per copy; a wide range reorders messages.
    public var delay: ClosedRange<Duration>

    public init(
        loss: Double = 0, duplication: Double = 0,
        delay: ClosedRange<Duration> = .milliseconds(1) ... .milliseconds(1)
    ) {
        self.loss = loss
        self.duplication = duplication
        self.delay = delay
    }

    public static let perfect = NetworkFaults()
}

/// What `Simulation.step()` hands back: one thing for the test loop to feed to a core.
public enum SimEvent<Message> {
    case deliver(from: Int, to: Int, message: Message)
    case timer(node: Int, tag: Int)
    /// A test-level event scheduled with `scheduleControl` (fault plans, client requests).
    case control(tag: Int)
}

extension SimEvent: Sendable where Message: Sendable {}

/// Counters a test can assert on.
public struct SimulationStats: Sendable, Equatable {
    public var sent = 0
    public var droppedByLoss = 0
    public var droppedByPartition = 0
    /// Sent by a crashed node, addressed to a crashed node, or addressed to an
    /// earlier life of a node that crashed while the message was in flight.
    public var droppedByCrash = 0
    public var duplicated = 0
    public var delivered = 0
    public var timersFired = 0
    public var crashes = 0
    public var restarts = 0
    public init() {}
}

/// Deterministic discrete-event simulation of N nodes exchanging `Message`s.
///
/// The simulation never runs protocol code itself: `step()` returns the next event
/// (a delivery, a timer, a control event) after advancing virtual time, and the test
/// loop feeds it to the pure core and reports the core's outputs back with `send`
/// and `setTimer`. Everything random comes from `rng`, so a seed fixes the run.
public final class Simulation<Message> {
    public struct Link: Hashable, Sendable {
        public let from: Int
        public let to: Int
        public init(from: Int, to: Int) {
            self.from = from
            self.to = to
        }
    }

    private struct TimerKey: Hashable {
        let node: Int
        let tag: Int
    }

    private enum Pending {
        case message(from: Int, to: Int, toEpoch: UInt64, id: UInt64, message: Message)
        case timer(node: Int, tag: Int, epoch: UInt64, generation: UInt64)
        case control(tag: Int)
    }

    // Trace kind codes; stable so the hash is stable.
    private enum Kind: UInt8 {
        case send = 1, dropLoss, dropPartition, dropCrash, duplicate, deliver, timer, control
        case crash, restart, partition, heal, isolate, clockJump, addNode
    }

    public let seed: UInt64
    /// All randomness of the run. Tests may draw from it too (still deterministic).
    public var rng: SeededRandom
    /// Default faults for every link without an override.
    public var network: NetworkFaults
    /// Probability that `crash(_:)` tears the crashed node's unsynced disk writes.
    public var tornWriteProbability: Double = 0
    public private(set) var trace: Trace
    public private(set) var stats = SimulationStats()

    private var queue = EventQueue<Pending>()
    private var nowNanos: Int64 = 0
    private var nextMessageID: UInt64 = 0

    private var up: [Bool] = []
    private var epoch: [UInt64] = []
    private var clockOffset: [Int64] = []
    private var slowness: [ClosedRange<Duration>?] = []
    private var isolated: [Bool] = []
    private var group: [Int] = []
    private var partitioned = false
    private var blockedLinks: Set<Link> = []
    private var linkFaults: [Link: NetworkFaults] = [:]
    private var timerGeneration: [TimerKey: UInt64] = [:]
    private var disks: [Int: SimDisk] = [:]

    public init(seed: UInt64, nodes: Int, network: NetworkFaults = .perfect, keepsTraceLog: Bool = false) {
        self.seed = seed
        self.rng = SeededRandom(seed: seed)
        self.network = network
        self.trace = Trace(keepsLog: keepsTraceLog)
        for _ in 0..<nodes { appendNodeState() }
    }

    // MARK: Time

    /// Virtual time since the start of the simulation.
    public var now: Duration { .nanoseconds(nowNanos) }
    public var nowNanoseconds: Int64 { nowNanos }

    /// The node's own view of time: `now` plus its clock offset (may be skewed or jump).
    public func localTime(_ node: Int) -> Duration { .nanoseconds(nowNanos &+ clockOffset[node]) }

    public func clockOffset(of node: Int) -> Duration { .nanoseconds(clockOffset[node]) }

    public func setClockOffset(_ node: Int, to offset: Duration) {
        clockOffset[node] = offset.nanosecondsClamped
        trace.record(Kind.clockJump.rawValue, Int64(node), clockOffset[node], line: "\(self.stamp) clock \(node) offset=\(offset)")
    }

    /// Moves one node's clock forward (or back, with a negative duration).
    public func jumpClock(_ node: Int, by delta: Duration) {
        setClockOffset(node, to: .nanoseconds(clockOffset[node] &+ delta.nanosecondsClamped))
    }

    // MARK: Nodes

    public var nodeCount: Int { up.count }
    public var nodes: Range<Int> { 0..<up.count }
    public func isUp(_ node: Int) -> Bool { up[node] }
    public var upNodes: [Int] { nodes.filter { up[$0] } }

    /// Adds a node (up, unpartitioned unless a partition is active, then alone) and returns its id.
    @discardableResult
    public func addNode() -> Int {
        appendNodeState()
        let id = up.count - 1
        trace.record(Kind.addNode.rawValue, Int64(id), line: "\(self.stamp) add node \(id)")
        return id
    }

    private func appendNodeState() {
        let id = up.count
        up.append(true)
        epoch.append(0)
        clockOffset.append(0)
        slowness.append(nil)
        isolated.append(false)
        group.append(-1 - id)  // a fresh node is in a group of its own while partitioned
    }

    /// Stops the node: its timers are cancelled, messages in flight to it are lost,
    /// and its disk (if any) loses unsynced writes — torn with `tornWriteProbability`,
    /// or as forced by `tearingWrites`.
    public func crash(_ node: Int, tearingWrites: Bool? = nil) {
        guard up[node] else { return }
        up[node] = false
        epoch[node] &+= 1
        stats.crashes += 1
        trace.record(Kind.crash.rawValue, Int64(node), line: "\(self.stamp) crash \(node)")
        if let disk = disks[node] {
            let tear = tearingWrites ?? rng.chance(tornWriteProbability)
            disk.crash(tear ? .tornAnywhere : .loseUnsynced, using: &rng)
        }
    }

    /// Brings a crashed node back; the test is responsible for rebuilding its core from disk.
    public func restart(_ node: Int) {
        guard !up[node] else { return }
        up[node] = true
        stats.restarts += 1
        trace.record(Kind.restart.rawValue, Int64(node), line: "\(self.stamp) restart \(node)")
    }

    /// Extra one-way delay on every message this node sends or receives (a slow member).
    /// `nil` makes it normal again.
    public func setSlowness(_ node: Int, extraDelay: ClosedRange<Duration>?) {
        slowness[node] = extraDelay
    }

    /// The node's persistent disk, created empty on first use. It survives crashes.
    public func disk(_ node: Int) -> SimDisk {
        if let disk = disks[node] { return disk }
        let disk = SimDisk()
        disks[node] = disk
        return disk
    }

    // MARK: Partitions

    /// Only nodes in the same group can talk; nodes not listed are each on their own.
    public func partition(_ groups: [[Int]]) {
        for node in nodes { group[node] = -1 - node }
        for (index, members) in groups.enumerated() {
            for node in members { group[node] = index }
        }
        partitioned = true
        trace.record(Kind.partition.rawValue, Int64(groups.count), line: "\(self.stamp) partition \(groups)")
    }

    /// Cuts the node off from everyone (in both directions) until `heal()`.
    public func isolate(_ node: Int) {
        isolated[node] = true
        trace.record(Kind.isolate.rawValue, Int64(node), line: "\(self.stamp) isolate \(node)")
    }

    /// Drops messages in one direction only (asymmetric partitions), until `heal()`.
    public func block(from: Int, to: Int) {
        blockedLinks.insert(Link(from: from, to: to))
    }

    /// Removes every partition, isolation and blocked link.
    public func heal() {
        partitioned = false
        for node in nodes { isolated[node] = false }
        blockedLinks.removeAll()
        trace.record(Kind.heal.rawValue, line: "\(self.stamp) heal")
    }

    /// Per-link fault override; `nil` goes back to `network`.
    public func setFaults(_ faults: NetworkFaults?, from: Int, to: Int) {
        linkFaults[Link(from: from, to: to)] = faults
    }

    public func canCommunicate(from: Int, to: Int) -> Bool {
        if isolated[from] || isolated[to] { return false }
        if partitioned && group[from] != group[to] { return false }
        if !blockedLinks.isEmpty && blockedLinks.contains(Link(from: from, to: to)) { return false }
        return true
    }

    // MARK: Inputs from the test loop

    /// Puts a message on the wire, subject to partitions, loss, duplication and delay.
    public func send(from: Int, to: Int, _ message: Message) {
        stats.sent += 1
        let id = nextMessageID
        nextMessageID &+= 1
        trace.record(Kind.send.rawValue, Int64(from), Int64(to), Int64(id), line: "\(self.stamp) send #\(id) \(from)->\(to) \(message)")
        guard up[from], up[to] else {
            stats.droppedByCrash += 1
            trace.record(Kind.dropCrash.rawValue, Int64(id), line: "\(self.stamp) drop(crash) #\(id)")
            return
        }
        guard canCommunicate(from: from, to: to) else {
            stats.droppedByPartition += 1
            trace.record(Kind.dropPartition.rawValue, Int64(id), line: "\(self.stamp) drop(partition) #\(id)")
            return
        }
        let faults = linkFaults.isEmpty ? network : (linkFaults[Link(from: from, to: to)] ?? network)
        if rng.chance(faults.loss) {
            stats.droppedByLoss += 1
            trace.record(Kind.dropLoss.rawValue, Int64(id), line: "\(self.stamp) drop(loss) #\(id)")
            return
        }
        var copies = 1
        if rng.chance(faults.duplication) {
            copies = 2
            stats.duplicated += 1
            trace.record(Kind.duplicate.rawValue, Int64(id), line: "\(self.stamp) duplicate #\(id)")
        }
        for _ in 0..<copies {
            var delay = rng.duration(in: faults.delay).nanosecondsClamped
            if let slow = slowness[from] { delay &+= rng.duration(in: slow).nanosecondsClamped }
            if let slow = slowness[to] { delay &+= rng.duration(in: slow).nanosecondsClamped }
            let pending = Pending.message(from: from, to: to, toEpoch: epoch[to], id: id, message: message)
            queue.push(pending, at: nowNanos &+ max(0, delay))
        }
    }

    /// Arms the node's timer `tag` to fire at virtual time `at` (clamped to now),
    /// replacing any earlier deadline for the same (node, tag).
    public func setTimer(_ node: Int, tag: Int = 0, at deadline: Duration) {
        guard up[node] else { return }
        let key = TimerKey(node: node, tag: tag)
        let generation = (timerGeneration[key] ?? 0) &+ 1
        timerGeneration[key] = generation
        let pending = Pending.timer(node: node, tag: tag, epoch: epoch[node], generation: generation)
        queue.push(pending, at: max(nowNanos, deadline.nanosecondsClamped))
    }

    /// Same as `setTimer(_:tag:at:)` with a deadline in the node's own (skewed) clock.
    public func setTimer(_ node: Int, tag: Int = 0, atLocalTime deadline: Duration) {
        setTimer(node, tag: tag, at: .nanoseconds(deadline.nanosecondsClamped &- clockOffset[node]))
    }

    public func setTimer(_ node: Int, tag: Int = 0, after delay: Duration) {
        setTimer(node, tag: tag, at: .nanoseconds(nowNanos &+ delay.nanosecondsClamped))
    }

    public func cancelTimer(_ node: Int, tag: Int = 0) {
        let key = TimerKey(node: node, tag: tag)
        timerGeneration[key] = (timerGeneration[key] ?? 0) &+ 1
    }

    /// Schedules a test-level event (fault plan step, client request) at virtual time `at`.
    public func scheduleControl(tag: Int, at time: Duration) {
        queue.push(.control(tag: tag), at: max(nowNanos, time.nanosecondsClamped))
    }

    public func scheduleControl(tag: Int, after delay: Duration) {
        scheduleControl(tag: tag, at: .nanoseconds(nowNanos &+ delay.nanosecondsClamped))
    }

    /// Records a test-defined event into the trace (e.g. "leader 2 term 3").
    public func record(_ text: String) {
        trace.record(text)
    }

    // MARK: Running

    /// Number of queued events, including ones that will turn out stale or dropped.
    public var pendingEventCount: Int { queue.count }

    /// Advances virtual time to the next live event and returns it; `nil` when nothing
    /// is left, or when the next event is after `deadline` (then `now` becomes `deadline`).
    public func step(until deadline: Duration? = nil) -> SimEvent<Message>? {
        let limit = deadline?.nanosecondsClamped
        while let next = queue.peek() {
            if let limit, next.time > limit {
                nowNanos = max(nowNanos, limit)
                return nil
            }
            _ = queue.pop()
            nowNanos = next.time
            switch next.element {
            case let .message(from, to, toEpoch, id, message):
                guard up[to], epoch[to] == toEpoch else {
                    stats.droppedByCrash += 1
                    trace.record(Kind.dropCrash.rawValue, Int64(id), 1, line: "\(self.stamp) drop(crash) #\(id) at delivery")
                    continue
                }
                guard canCommunicate(from: from, to: to) else {
                    stats.droppedByPartition += 1
                    trace.record(Kind.dropPartition.rawValue, Int64(id), 1, line: "\(self.stamp) drop(partition) #\(id) at delivery")
                    continue
                }
                stats.delivered += 1
                trace.record(Kind.deliver.rawValue, Int64(from), Int64(to), Int64(id), nowNanos, line: "\(self.stamp) deliver #\(id) \(from)->\(to)")
                return .deliver(from: from, to: to, message: message)
            case let .timer(node, tag, timerEpoch, generation):
                guard up[node], epoch[node] == timerEpoch,
                    timerGeneration[TimerKey(node: node, tag: tag)] == generation
                else { continue }
                stats.timersFired += 1
                trace.record(Kind.timer.rawValue, Int64(node), Int64(tag), nowNanos, line: "\(self.stamp) timer \(node)/\(tag)")
                return .timer(node: node, tag: tag)
            case let .control(tag):
                trace.record(Kind.control.rawValue, Int64(tag), nowNanos, line: "\(self.stamp) control \(tag)")
                return .control(tag: tag)
            }
        }
        if let limit { nowNanos = max(nowNanos, limit) }
        return nil
    }

    private var stamp: String { "[\(now)]" }
}
