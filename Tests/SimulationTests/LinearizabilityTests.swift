import Simulation
import Testing

private func op(_ client: Int, _ input: KVInput, _ invoke: UInt64, _ response: UInt64?, _ output: KVOutput?) -> KVOperation {
    KVOperation(client: client, input: input, invoke: invoke, response: response, output: output)
}

/// KVModel without versions: one value per key.
private struct RegisterModel: LinearizabilityModel {
    var initialState: String? { nil }
    func partition(of input: KVInput) -> String { input.key }
    func isReadOnly(_ input: KVInput) -> Bool { KVModel().isReadOnly(input) }
    func step(_ state: String?, _ input: KVInput, _ output: KVOutput?) -> String?? {
        KVModel().step(KVModel.State(value: state), input, output).map(\.value)
    }
}

private func isLinearizable(_ history: [KVOperation]) -> Bool {
    LinearizabilityChecker<KVModel>().check(history).isLinearizable
}

@Suite struct LinearizabilityHandBuiltTests {
    @Test func sequentialHistoryIsLinearizable() {
        #expect(isLinearizable([
            op(0, .put(key: "x", value: "1"), 0, 10, .ok),
            op(1, .get(key: "x"), 20, 30, .value("1")),
            op(0, .delete(key: "x"), 40, 50, .ok),
            op(1, .get(key: "x"), 60, 70, .value(nil)),
        ]))
    }

    @Test func readMissingACompletedWriteIsRejected() {
        let result = LinearizabilityChecker<KVModel>().check([
            op(0, .put(key: "y", value: "0"), 0, 5, .ok),
            op(0, .put(key: "x", value: "1"), 0, 10, .ok),
            op(1, .get(key: "x"), 20, 30, .value(nil)),
        ])
        #expect(result == .notLinearizable(partition: "x", operations: [1, 2]))
    }

    @Test func concurrentReadMaySeeEitherValue() {
        for seen in ["1", nil] as [String?] {
            #expect(isLinearizable([
                op(0, .put(key: "x", value: "1"), 0, 10, .ok),
                op(1, .get(key: "x"), 5, 15, .value(seen)),
            ]))
        }
        #expect(!isLinearizable([
            op(0, .put(key: "x", value: "1"), 0, 10, .ok),
            op(1, .get(key: "x"), 5, 15, .value("2")),
        ]))
    }

    @Test func staleReadAfterCompletedOverwriteIsRejected() {
        #expect(!isLinearizable([
            op(0, .put(key: "x", value: "1"), 0, 10, .ok),
            op(0, .put(key: "x", value: "2"), 20, 30, .ok),
            op(1, .get(key: "x"), 40, 50, .value("1")),
        ]))
    }

    @Test func newOldInversionIsRejected() {
        // Both reads overlap the write, but once one read saw the new value a later read cannot see the old one.
        #expect(!isLinearizable([
            op(0, .put(key: "x", value: "1"), 0, 100, .ok),
            op(1, .get(key: "x"), 10, 20, .value("1")),
            op(2, .get(key: "x"), 30, 40, .value(nil)),
        ]))
        #expect(isLinearizable([
            op(0, .put(key: "x", value: "1"), 0, 100, .ok),
            op(1, .get(key: "x"), 10, 20, .value(nil)),
            op(2, .get(key: "x"), 30, 40, .value("1")),
        ]))
    }

    @Test func pendingWriteMayOrMayNotTakeEffect() {
        let pendingPut = op(0, .put(key: "x", value: "1"), 0, nil, nil)
        // never observed
        #expect(isLinearizable([pendingPut, op(1, .get(key: "x"), 10, 20, .value(nil))]))
        // observed long after it was issued
        #expect(isLinearizable([pendingPut, op(1, .get(key: "x"), 500, 600, .value("1"))]))
        // observed, then unobserved: impossible
        #expect(!isLinearizable([
            pendingPut,
            op(1, .get(key: "x"), 10, 20, .value("1")),
            op(1, .get(key: "x"), 30, 40, .value(nil)),
        ]))
        // a pending write cannot produce a value it never wrote
        #expect(!isLinearizable([pendingPut, op(1, .get(key: "x"), 10, 20, .value("2"))]))
        // nor take effect before it was invoked
        #expect(!isLinearizable([
            op(1, .get(key: "x"), 0, 5, .value("1")),
            op(0, .put(key: "x", value: "1"), 10, nil, nil),
        ]))
    }

    @Test func manyTimedOutWritesStayTractable() {
        // 2^20 subsets of timed-out writes could have taken effect; the search must not
        // enumerate them. (KVModel's per-key version would make every subset size a distinct
        // state, so this uses a plain register: the shape of the Raft store's model.)
        let pending = (0..<20).map { op($0, .put(key: "x", value: "p\($0)"), UInt64($0), nil, nil) }
        let prefix = pending + [
            op(30, .put(key: "x", value: "a"), 100, 110, .ok),
            op(31, .get(key: "x"), 120, 130, .value("a")),
            op(30, .put(key: "x", value: "b"), 140, 150, .ok),
        ]
        let checker = LinearizabilityChecker(model: RegisterModel(), stepBudget: 200_000)
        #expect(checker.check(prefix + [op(31, .get(key: "x"), 160, 170, .value("p7"))]) == .linearizable)
        let stale = checker.check(prefix + [op(31, .get(key: "x"), 160, 170, .value("a"))])
        #expect(stale == .notLinearizable(partition: "x", operations: Array(0..<24)))
    }

    @Test func pendingReadsAreIgnoredAndBackwardsStampsTolerated() {
        #expect(isLinearizable([
            op(0, .put(key: "x", value: "1"), 0, 10, .ok),
            op(1, .get(key: "x"), 5, nil, nil),
            op(2, .get(key: "x"), 30, 20, .value("1")),  // response stamped before invoke
        ]))
        #expect(!isLinearizable([
            op(0, .put(key: "x", value: "1"), 0, 10, .ok),
            op(2, .get(key: "x"), 30, 20, .value(nil)),
        ]))
    }

    @Test func completedOperationWithUnknownOutputIsAccepted() {
        #expect(isLinearizable([
            op(0, .put(key: "x", value: "1"), 0, 10, nil),
            op(1, .get(key: "x"), 20, 30, .value("1")),
        ]))
    }

    @Test func compareAndSwapByValueAndVersion() {
        let base = [
            op(0, .put(key: "x", value: "1"), 0, 10, .ok),
            op(1, .cas(key: "x", expected: .value("1"), newValue: "2"), 20, 30, .cas(true)),
        ]
        #expect(isLinearizable(base + [op(2, .get(key: "x"), 40, 50, .value("2"))]))
        #expect(!isLinearizable(base + [op(2, .get(key: "x"), 40, 50, .value("1"))]))
        // refusing when the expectation held is wrong
        #expect(!isLinearizable([
            op(0, .put(key: "x", value: "1"), 0, 10, .ok),
            op(1, .cas(key: "x", expected: .value("1"), newValue: "2"), 20, 30, .cas(false)),
        ]))
        // version 1 after one put; absent key expects value nil
        #expect(isLinearizable([
            op(0, .cas(key: "x", expected: .value(nil), newValue: "a"), 0, 10, .cas(true)),
            op(0, .cas(key: "x", expected: .version(1), newValue: "b"), 20, 30, .cas(true)),
            op(0, .cas(key: "x", expected: .version(1), newValue: "c"), 40, 50, .cas(false)),
            op(1, .get(key: "x"), 60, 70, .value("b")),
        ]))
        // two concurrent cas from the same expectation cannot both succeed
        #expect(!isLinearizable([
            op(0, .put(key: "x", value: "1"), 0, 10, .ok),
            op(1, .cas(key: "x", expected: .value("1"), newValue: "2"), 20, 30, .cas(true)),
            op(2, .cas(key: "x", expected: .value("1"), newValue: "3"), 20, 30, .cas(true)),
        ]))
    }

    @Test func wrongOutputKindIsRejected() {
        #expect(!isLinearizable([op(0, .get(key: "x"), 0, 1, .ok)]))
        #expect(!isLinearizable([op(0, .put(key: "x", value: "1"), 0, 1, .cas(true))]))
    }

    @Test func emptyHistoryAndBudget() {
        #expect(isLinearizable([]))
        var many: [KVOperation] = []
        for i in 0..<12 {  // all concurrent: a real search
            many.append(op(i, .put(key: "k", value: "\(i)"), 0, 100, .ok))
        }
        many.append(op(99, .get(key: "k"), 200, 300, .value("nope")))
        #expect(LinearizabilityChecker<KVModel>(stepBudget: 50).check(many) == .unknown(partition: "k"))
        #expect(LinearizabilityChecker<KVModel>().check(many) == .notLinearizable(partition: "k", operations: Array(0...12)))
    }

    @Test func recorderBuildsHistory() {
        var recorder = HistoryRecorder<KVInput, KVOutput>()
        let a = recorder.invoke(client: 0, .put(key: "x", value: "1"), at: 10)
        let b = recorder.invoke(client: 1, .get(key: "x"), at: 12)
        let c = recorder.invoke(client: 2, .put(key: "x", value: "9"), at: 13)
        recorder.complete(a, output: .ok, at: 20)
        recorder.complete(b, output: .value("1"), at: 25)
        recorder.discard(c)
        recorder.complete(99, output: .ok, at: 30)  // unknown handle: ignored
        #expect(recorder.history.count == 2)
        #expect(recorder.history[1].response == 25)
        #expect(isLinearizable(recorder.history))
    }
}

/// Random concurrent histories made linearizable by construction: each operation takes
/// effect at a random instant inside its interval, applied in that order to a plain map.
private func generateHistory(seed: UInt64, clients: Int = 4, opsPerClient: Int = 15, keys: Int = 2, timeouts: Double = 0.05, versionCAS: Bool = true) -> [KVOperation] {
    var rng = SeededRandom(seed: seed)
    struct Planned { var op: KVOperation; var effectAt: UInt64? }
    var planned: [Planned] = []
    var counter = 0
    for client in 0..<clients {
        var cursor = UInt64(rng.int(in: 0..<10))
        for _ in 0..<opsPerClient {
            let key = "k\(rng.int(in: 0..<keys))"
            counter += 1
            let value = "v\(counter)"
            let input: KVInput
            switch rng.int(in: 0..<10) {
            case 0..<3: input = .put(key: key, value: value)
            case 3..<7: input = .get(key: key)
            case 7: input = .delete(key: key)
            case 8: input = .cas(key: key, expected: .value(rng.chance(0.3) ? nil : "v\(rng.int(in: max(1, counter - 8)...counter))"), newValue: value)
            default:
                let version = UInt64(rng.int(in: 0..<6))
                input = versionCAS
                    ? .cas(key: key, expected: .version(version), newValue: value)
                    : .cas(key: key, expected: .value("v\(max(1, counter - Int(version)))"), newValue: value)
            }
            let invoke = cursor + UInt64(rng.int(in: 0..<5))
            let response = invoke + UInt64(rng.int(in: 1..<40))
            var effect: UInt64? = UInt64(rng.int(in: Int(invoke)...Int(response)))
            var returned: UInt64? = response
            if rng.chance(timeouts) {  // timed out: maybe applied later, maybe never
                returned = nil
                effect = rng.chance(0.5) ? invoke + UInt64(rng.int(in: 0..<300)) : nil
            }
            planned.append(Planned(op: op(client, input, invoke, returned, nil), effectAt: effect))
            cursor = response + 1
        }
    }
    var store: [String: KVModel.State] = [:]
    let model = KVModel()
    let byEffect = planned.indices.filter { planned[$0].effectAt != nil }.sorted {
        (planned[$0].effectAt ?? 0, $0) < (planned[$1].effectAt ?? 0, $1)
    }
    for index in byEffect {
        let input = planned[index].op.input
        let state = store[input.key] ?? model.initialState
        let output: KVOutput
        switch input {
        case .put, .delete: output = .ok
        case .get: output = .value(state.value)
        case .cas: output = .cas(model.step(state, input, .cas(true)) != nil)
        }
        store[input.key] = model.step(state, input, output)
        if planned[index].op.response != nil { planned[index].op.output = output }
    }
    return planned.map(\.op)
}

@Suite struct LinearizabilityRandomizedTests {
    @Test func generatedHistoriesAreLinearizable() throws {
        try forEachSeed(defaultCount: 40) { seed in
            let history = generateHistory(seed: seed)
            let result = LinearizabilityChecker<KVModel>().check(history)
            try simCheck(result == .linearizable, "expected linearizable, got \(result)")
        }
    }

    @Test func customModelWithoutVersions() throws {
        try forEachSeed(defaultCount: 20) { seed in
            var history = generateHistory(seed: seed, clients: 5, opsPerClient: 20, timeouts: 0.1, versionCAS: false)
            let checker = LinearizabilityChecker(model: RegisterModel())
            try simCheck(checker.check(history) == .linearizable, "rejected a valid history")
            let reads = history.indices.filter { if case .get = history[$0].input { history[$0].output != nil } else { false } }
            let victim = try #require(reads.first)
            history[victim].output = .value("bogus")
            guard case .notLinearizable = checker.check(history) else { throw SimulationFailure("bogus read not refuted") }
        }
    }

    @Test func readOfNeverWrittenValueIsRejected() throws {
        try forEachSeed(defaultCount: 40) { seed in
            var history = generateHistory(seed: seed)
            var rng = SeededRandom(seed: seed ^ 0xABCD)
            let reads = history.indices.filter { if case .get = history[$0].input { history[$0].output != nil } else { false } }
            let picked = rng.element(of: reads)
            let victim = try #require(picked)
            history[victim].output = .value("never-written")
            let result = LinearizabilityChecker<KVModel>().check(history)
            guard case let .notLinearizable(partition, _) = result else {
                throw SimulationFailure("corruption not refuted: \(result)")
            }
            try simCheck(partition == history[victim].input.key, "wrong partition \(partition)")
        }
    }

    @Test func staleReadAppendedAfterOverwriteIsRejected() throws {
        try forEachSeed(defaultCount: 40) { seed in
            var history = generateHistory(seed: seed)
            let end = (history.compactMap(\.response).max() ?? 0) + 1000
            history.append(op(7, .put(key: "k0", value: "old"), end, end + 5, .ok))
            history.append(op(8, .put(key: "k0", value: "new"), end + 10, end + 15, .ok))
            try simCheck(LinearizabilityChecker<KVModel>().check(history).isLinearizable, "prefix rejected")
            history.append(op(9, .get(key: "k0"), end + 20, end + 25, .value("old")))
            let result = LinearizabilityChecker<KVModel>().check(history)
            guard case .notLinearizable(partition: "k0", _) = result else { throw SimulationFailure("stale read not refuted: \(result)") }
        }
    }
}

@Suite struct LinearizabilityScaleTests {
    @Test func largeConcurrentHistoriesAreDecided() throws {
        try forEachSeed(defaultCount: 5) { seed in
            var history = generateHistory(seed: seed, clients: 6, opsPerClient: 60, keys: 2, timeouts: 0.02)
            try simCheck(LinearizabilityChecker<KVModel>().check(history) == .linearizable, "rejected a valid history")
            let reads = history.indices.filter { if case .get = history[$0].input { history[$0].output != nil } else { false } }
            let victim = try #require(reads.last)
            history[victim].output = .value("bogus")
            let result = LinearizabilityChecker<KVModel>().check(history)
            guard case .notLinearizable = result else { throw SimulationFailure("expected a refutation, got \(result)") }
        }
    }
}
