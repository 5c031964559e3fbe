/// Linearizability checking in the style of Wing & Gong with Lowe's memoization, as
/// popularized by Porcupine: the history is split into independent partitions (one per
/// key), and each partition is searched depth-first for a total order that respects
/// real time and the sequential model, caching (linearized set, model state) pairs
/// that are already known to lead nowhere.
///
/// Operations that never returned stay concurrent with everything after them; the search
/// prunes configurations that differ only by extra such operations (see `search`), and the
/// step budget turns any remaining blow-up into `.unknown`.

/// A sequential specification. `step` must be deterministic.
public protocol LinearizabilityModel {
    associatedtype Input
    associatedtype Output
    associatedtype State: Hashable
    associatedtype PartitionKey: Hashable

    var initialState: State { get }
    /// Operations in different partitions never affect each other (e.g. different keys).
    func partition(of input: Input) -> PartitionKey
    /// The state after applying `input`, or nil when `output` is impossible in `state`.
    /// `output == nil` means the outcome is unknown (timed out): accept whatever happens,
    /// i.e. never return nil for a nil output (the search relies on it).
    func step(_ state: State, _ input: Input, _ output: Output?) -> State?
    /// True if `input` never changes the state; such operations with an unknown output
    /// constrain nothing and are dropped before the search (they would only widen it).
    func isReadOnly(_ input: Input) -> Bool
}

extension LinearizabilityModel {
    public func isReadOnly(_ input: Input) -> Bool { false }
}

/// One client operation as observed from outside.
public struct HistoryOperation<Input, Output> {
    public var client: Int
    public var input: Input
    /// When the call was issued, in any monotonic unit (e.g. nanoseconds).
    public var invoke: UInt64
    /// When the reply arrived; nil if it never did (the operation may or may not
    /// have taken effect, at any time after `invoke`).
    public var response: UInt64?
    /// nil when unknown (no reply, or a reply that does not say what happened).
    public var output: Output?

    public init(client: Int, input: Input, invoke: UInt64, response: UInt64?, output: Output?) {
        self.client = client
        self.input = input
        self.invoke = invoke
        self.response = response
        self.output = output
    }
}

extension HistoryOperation: Sendable where Input: Sendable, Output: Sendable {}
extension HistoryOperation: Equatable where Input: Equatable, Output: Equatable {}

public enum LinearizabilityResult<PartitionKey: Hashable>: Equatable {
    case linearizable
    /// No valid order exists for this partition; `operations` are indexes into the
    /// history passed to `check`, in invocation order.
    case notLinearizable(partition: PartitionKey, operations: [Int])
    /// The step budget ran out before an answer (treat as "inconclusive", not as a pass).
    case unknown(partition: PartitionKey)

    public var isLinearizable: Bool { self == .linearizable }
}

public struct LinearizabilityChecker<Model: LinearizabilityModel> {
    public let model: Model
    /// Upper bound on search steps per partition, so a pathological history cannot hang a test.
    public var stepBudget: Int

    public init(model: Model, stepBudget: Int = 5_000_000) {
        self.model = model
        self.stepBudget = stepBudget
    }

    public func check(_ history: [HistoryOperation<Model.Input, Model.Output>]) -> LinearizabilityResult<Model.PartitionKey> {
        var order: [Model.PartitionKey] = []
        var groups: [Model.PartitionKey: [Int]] = [:]
        for index in history.indices {
            if history[index].output == nil && model.isReadOnly(history[index].input) { continue }
            let key = model.partition(of: history[index].input)
            if groups[key] == nil { order.append(key) }
            groups[key, default: []].append(index)
        }
        var inconclusive: Model.PartitionKey?
        for key in order {
            let members = groups[key] ?? []
            switch search(members.map { history[$0] }) {
            case .found: continue
            case .impossible:
                let sorted = members.sorted { (history[$0].invoke, $0) < (history[$1].invoke, $1) }
                return .notLinearizable(partition: key, operations: sorted)
            case .outOfBudget:
                if inconclusive == nil { inconclusive = key }
            }
        }
        if let inconclusive { return .unknown(partition: inconclusive) }
        return .linearizable
    }

    private enum SearchOutcome { case found, impossible, outOfBudget }

    private struct CacheKey: Hashable {
        let completed: [UInt64]
        let state: Model.State
    }

    /// Depth-first search over a doubly linked list of call/return events sorted by time.
    /// At each point only calls before the first remaining return are candidates: any of
    /// them may take effect next without violating real-time order.
    ///
    /// Operations that never returned get two special rules, both sound because such an
    /// operation can always take effect last (or never): the search succeeds once every
    /// *completed* operation is placed, and a configuration is skipped when one with the
    /// same completed set and state, but fewer never-returned operations applied, was
    /// already visited or is a sibling still to be tried (it has every option the new
    /// one has).
    private func search(_ ops: [HistoryOperation<Model.Input, Model.Output>]) -> SearchOutcome {
        let n = ops.count
        let pending = ops.map { $0.response == nil }
        // Bit positions: completed and never-returned operations are numbered separately.
        var bit = [Int](repeating: 0, count: n)
        var completedCount = 0
        var pendingCount = 0
        for i in 0..<n {
            if pending[i] {
                bit[i] = pendingCount
                pendingCount += 1
            } else {
                bit[i] = completedCount
                completedCount += 1
            }
        }
        if completedCount == 0 { return .found }

        // Events: index < n is the call of op i, n + i is its return. Unreturned ops
        // return "at infinity".
        var events: [HistoryEvent] = []
        events.reserveCapacity(2 * n)
        for (i, op) in ops.enumerated() {
            events.append(HistoryEvent(time: op.invoke, isReturn: false, id: i))
            // A reply stamped before its call (clock trouble in real runs) is read as instantaneous.
            events.append(HistoryEvent(time: max(op.response ?? .max, op.invoke), isReturn: true, id: n + i))
        }
        // Calls sort before returns at equal times: touching intervals count as concurrent.
        events.sort { a, b in
            if a.time != b.time { return a.time < b.time }
            if a.isReturn != b.isReturn { return !a.isReturn }
            return a.id < b.id
        }

        // Linked list over nodes 0..<2n plus a head sentinel at 2n.
        let head = 2 * n
        var next = [Int](repeating: -1, count: 2 * n + 1)
        var prev = [Int](repeating: -1, count: 2 * n + 1)
        var last = head
        for event in events {
            next[last] = event.id
            prev[event.id] = last
            last = event.id
        }

        func lift(_ call: Int) {
            let ret = n + call
            next[prev[call]] = next[call]
            if next[call] >= 0 { prev[next[call]] = prev[call] }
            next[prev[ret]] = next[ret]
            if next[ret] >= 0 { prev[next[ret]] = prev[ret] }
        }
        func unlift(_ call: Int) {
            // Reinsert in reverse order of removal so neighbours are valid again.
            let ret = n + call
            if next[ret] >= 0 { prev[next[ret]] = ret }
            next[prev[ret]] = ret
            if next[call] >= 0 { prev[next[call]] = call }
            next[prev[call]] = call
        }

        var completedBits = [UInt64](repeating: 0, count: (completedCount + 63) / 64)
        var pendingBits = [UInt64](repeating: 0, count: (pendingCount + 63) / 64)
        func toggle(_ op: Int) {
            let b = bit[op]
            if pending[op] {
                pendingBits[b >> 6] ^= 1 << UInt64(b & 63)
            } else {
                completedBits[b >> 6] ^= 1 << UInt64(b & 63)
            }
        }

        // For each (completed set, state): the minimal sets of never-returned ops seen with it.
        var cache: [CacheKey: [[UInt64]]] = [:]
        func isSubset(_ a: [UInt64], of b: [UInt64]) -> Bool {
            for i in a.indices where a[i] & ~b[i] != 0 { return false }
            return true
        }
        /// Records the configuration; false if it (or one that dominates it) was seen.
        func visit(_ state: Model.State) -> Bool {
            let key = CacheKey(completed: completedBits, state: state)
            guard var seen = cache[key] else {
                cache[key] = [pendingBits]
                return true
            }
            for earlier in seen where isSubset(earlier, of: pendingBits) { return false }
            seen.removeAll { isSubset(pendingBits, of: $0) }
            seen.append(pendingBits)
            cache[key] = seen
            return true
        }

        var stack: [(call: Int, state: Model.State)] = []
        /// True when the last placed operation never returned and `op` would leave the same
        /// state without it (e.g. a blind write): then placing `op` straight from the parent
        /// configuration, a sibling the search also tries, dominates this one.
        func overwritesPendingTop(_ op: Int, _ newState: Model.State) -> Bool {
            guard let top = stack.last, pending[top.call] else { return false }
            return model.step(top.state, ops[op].input, ops[op].output) == newState
        }
        var state = model.initialState
        _ = visit(state)
        var remainingCompleted = completedCount
        var entry = next[head]
        var steps = 0

        while true {
            steps += 1
            if steps > stepBudget { return .outOfBudget }
            if entry >= 0 && entry < n {
                if let newState = model.step(state, ops[entry].input, ops[entry].output) {
                    toggle(entry)
                    if !overwritesPendingTop(entry, newState), visit(newState) {
                        stack.append((entry, state))
                        state = newState
                        lift(entry)
                        if !pending[entry] {
                            remainingCompleted -= 1
                            if remainingCompleted == 0 { return .found }
                        }
                        entry = next[head]
                        continue
                    }
                    toggle(entry)
                }
                entry = next[entry]
            } else {
                // Reached a return without linearizing its call: backtrack.
                guard let top = stack.popLast() else { return .impossible }
                state = top.state
                toggle(top.call)
                unlift(top.call)
                if !pending[top.call] { remainingCompleted += 1 }
                entry = next[top.call]
            }
        }
    }
}

private struct HistoryEvent {
    let time: UInt64
    let isReturn: Bool
    let id: Int
}

// MARK: Key-value register model

public enum KVInput: Hashable, Sendable {
    case put(key: String, value: String)
    case get(key: String)
    case delete(key: String)
    case cas(key: String, expected: CASExpectation, newValue: String)

    public var key: String {
        switch self {
        case let .put(key, _), let .get(key), let .delete(key), let .cas(key, _, _): key
        }
    }
}

public enum CASExpectation: Hashable, Sendable {
    /// Succeeds when the current value equals this (nil: the key is absent).
    case value(String?)
    /// Succeeds when the key's version equals this; see `KVModel.State.version`.
    case version(UInt64)
}

public enum KVOutput: Hashable, Sendable {
    /// put / delete acknowledged.
    case ok
    /// get's answer (nil: the key is absent).
    case value(String?)
    /// cas applied (true) or refused because the expectation did not hold (false).
    case cas(Bool)
}

/// A map of independent registers, partitioned by key.
public struct KVModel: LinearizabilityModel {
    public struct State: Hashable, Sendable {
        public var value: String?
        /// Number of changes applied to this key: put and successful cas add one,
        /// delete adds one only if the key existed. Never reset.
        public var version: UInt64
        public init(value: String? = nil, version: UInt64 = 0) {
            self.value = value
            self.version = version
        }
    }

    public init() {}

    public var initialState: State { State() }

    public func partition(of input: KVInput) -> String { input.key }

    public func isReadOnly(_ input: KVInput) -> Bool {
        if case .get = input { true } else { false }
    }

    public func step(_ state: State, _ input: KVInput, _ output: KVOutput?) -> State? {
        switch input {
        case let .put(_, value):
            guard output == nil || output == .ok else { return nil }
            return State(value: value, version: state.version + 1)
        case .get:
            guard output == nil || output == .value(state.value) else { return nil }
            return state
        case .delete:
            guard output == nil || output == .ok else { return nil }
            return state.value == nil ? state : State(value: nil, version: state.version + 1)
        case let .cas(_, expected, newValue):
            let holds: Bool
            switch expected {
            case let .value(v): holds = state.value == v
            case let .version(v): holds = state.version == v
            }
            switch output {
            case nil, .cas(true)?:
                if output == nil && !holds { return state }
                return holds ? State(value: newValue, version: state.version + 1) : nil
            case .cas(false)?:
                return holds ? nil : state
            default:
                return nil
            }
        }
    }
}

public typealias KVOperation = HistoryOperation<KVInput, KVOutput>

extension LinearizabilityChecker where Model == KVModel {
    public init(stepBudget: Int = 5_000_000) {
        self.init(model: KVModel(), stepBudget: stepBudget)
    }
}

/// Builds a history as operations start and finish (from a simulator loop or from
/// real clients with a monotonic clock).
public struct HistoryRecorder<Input, Output> {
    public private(set) var operations: [HistoryOperation<Input, Output>] = []

    public init() {}

    /// Returns a handle to pass to `complete`.
    public mutating func invoke(client: Int, _ input: Input, at time: UInt64) -> Int {
        operations.append(HistoryOperation(client: client, input: input, invoke: time, response: nil, output: nil))
        return operations.count - 1
    }

    /// Records the reply; `output` nil means the reply does not tell what happened.
    /// A handle never completed stays pending (outcome unknown).
    public mutating func complete(_ handle: Int, output: Output?, at time: UInt64) {
        guard operations.indices.contains(handle) else { return }
        operations[handle].response = max(time, operations[handle].invoke)
        operations[handle].output = output
    }

    /// Drops an operation known to have had no effect (e.g. rejected before reaching the log).
    public mutating func discard(_ handle: Int) {
        discarded.insert(handle)
    }

    private var discarded: Set<Int> = []

    /// The history to check, without discarded operations.
    public var history: [HistoryOperation<Input, Output>] {
        operations.indices.filter { !discarded.contains($0) }.map { operations[$0] }
    }
}

extension HistoryRecorder: Sendable where Input: Sendable, Output: Sendable {}
